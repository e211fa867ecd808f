"""The worker computing executions' results: off the request path, stopped cleanly on shutdown."""

from __future__ import annotations

import time
from datetime import date, timedelta

from amc_reports.local.sandbox.service import SandboxService

SQL = (
    "SELECT campaign, COUNT(DISTINCT user_id) AS users "
    "FROM amazon_attributed_events_by_conversion_time GROUP BY campaign"
)


def _body() -> dict:
    end = date.today() - timedelta(days=7)
    start = end - timedelta(days=7)
    return {
        "workflow": {"sqlQuery": SQL},
        "timeWindowStart": f"{start}T00:00:00",
        "timeWindowEnd": f"{end}T00:00:00",
        "timeWindowTimeZone": "UTC",
    }


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_result_is_computed_once_the_execution_runs_and_held_running_until_then(tmp_path):
    svc = SandboxService(tmp_path, {"latency_seconds": 1000, "impressions_per_day": 5000})
    try:
        execution = svc.create_execution("amcruns01", _body(), "E", "ATVPDKIKX0DER")[0]
        assert svc.execution_doc(execution, time.time())["status"] == "PENDING"
        assert not svc.sql_runs.pending  # nothing computed for an execution still queued
        end = execution.created_at + execution.queue_s + execution.run_s
        # at its planned end the query is handed over, and the status waits for it
        assert svc.execution_doc(execution, end + 1)["status"] == "RUNNING"
        assert execution.id in svc.sql_runs.pending
        _wait_for(lambda: not svc.sql_runs.pending)
        assert svc.execution_doc(execution, end + 1)["status"] == "SUCCEEDED"
        assert (tmp_path / "results" / execution.id / "part-00000.csv").exists()
    finally:
        svc.close()


def test_shutting_down_stops_the_worker_without_failing_the_execution(tmp_path):
    svc = SandboxService(tmp_path, {"latency_seconds": 0.01, "impressions_per_day": 400_000})
    execution = svc.create_execution("amcruns02", _body(), "E", "ATVPDKIKX0DER")[0]
    _wait_for(lambda: svc.execution_doc(execution, time.time())["status"] == "RUNNING")
    thread = svc.sql_runs._thread
    svc.close()  # while the week (and the 14 days before it) is being generated or queried
    assert thread is not None and not thread.is_alive()
    assert execution.outcome == "SUCCEEDED"  # computed again after a restart, not failed
