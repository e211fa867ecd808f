"""A run worker that dies, or a run that is terminated, while AMC works on the week."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date

import dagster as dg

WEEK = "2026-03-08"
DEADLINE_SECONDS = 90


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_child(harness) -> subprocess.Popen:
    database_url = harness.resources["warehouse"].database_url
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amc_reports_tests.dagster_tests.run_week_child",
            str(harness.config.path),
            harness.dagster.root_directory,
            harness.sandbox.base_url,
            database_url,
            harness.report.name,
            WEEK,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def submitted_week(harness):
    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    return row if row is not None and row.amc_execution_id else None


def test_crash_after_submission_resumes_the_same_amc_execution(harness):
    # AMC takes a while (the sandbox fixes an execution's timing when it is created): the worker
    # dies while waiting, and the retry waits out the rest.
    harness.set_faults(latency_seconds=20)
    child = start_child(harness)
    try:
        row = wait_for(lambda: submitted_week(harness), "the child to submit to AMC")
    finally:
        child.kill()  # SIGKILL: no cleanup, as when a node disappears
        child.wait(timeout=30)
    assert len(harness.submissions()) == 1
    assert row.status == "running"

    # The dead run still looks alive to Dagster until run monitoring fails it.
    [dead_run] = harness.dagster.get_runs()
    blocked = harness.materialize(WEEK)
    assert not blocked.success
    assert dead_run.run_id in blocked.get_step_failure_events()[0].step_failure_data.error.message

    harness.dagster.report_run_failed(dead_run, "run worker died (as run monitoring reports)")
    result = harness.materialize(WEEK)
    assert result.success

    # One AMC execution in all: the retry resumed it instead of paying AMC again.
    assert len(harness.submissions()) == 1
    final = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert final.status == "completed"
    assert (final.execution_id, final.amc_execution_id) == (
        row.execution_id,
        row.amc_execution_id,
    )
    metadata = result.get_asset_materialization_events()[0].event_specific_data.materialization
    assert metadata.metadata["resumed_execution"].value is True
    assert metadata.metadata["amc_execution_id"].value == row.amc_execution_id


def test_interrupting_the_run_cancels_the_amc_execution(harness):
    harness.set_faults(latency_seconds=600)
    child = start_child(harness)
    try:
        row = wait_for(lambda: submitted_week(harness), "the child to submit to AMC")
        # SIGINT is what Dagster's run worker raises in the step when a run is terminated.
        child.send_signal(signal.SIGINT)
        child.wait(timeout=DEADLINE_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
    [submission] = wait_for(
        lambda: [s for s in harness.submissions() if s["status"] == "CANCELLED"],
        "AMC to see the cancellation",
    )
    assert submission["execution_id"] == row.amc_execution_id
    final = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert final.status == "failed"
    assert "terminated" in final.error_message
    assert harness.warehouse.get_execution(row.execution_id).status == "CANCELLED"
    [run] = harness.dagster.get_runs()
    assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
