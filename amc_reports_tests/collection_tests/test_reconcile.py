"""The reconciler on its own (no Dagster): weeks and executions nobody watches, healed after
asking the sandbox over HTTP; the week rows in a real PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from amc_reports.collection.reconcile import Did, Watchers, reconcile
from amc_reports.config import ReportTarget

WEEK = date(2026, 3, 8)


def left_by_a_dead_run(setup, **faults):
    """A run claimed the week, submitted to AMC and died (its week row still says running)."""
    setup.set_faults(**faults)
    return setup.left_by_a_dead_run(WEEK)


def tick(setup, *, alive=(), active=False, launched=False):
    return reconcile(
        [ReportTarget(setup.report, setup.report.instance)],
        setup.warehouse,
        lambda _: setup.sandbox.client(),
        Watchers(
            run_is_alive=lambda run_id: run_id in alive,
            week_has_active_run=lambda target, key: active,
            launched_for=lambda execution_id: launched,
        ),
        now=datetime.now(UTC),
        grace_seconds=0,
    )


def until_amc_is_done(setup) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ended = ("SUCCEEDED", "FAILED", "CANCELLED", "REJECTED")
        if all(s["status"] in ended for s in setup.submissions()):
            return
        time.sleep(0.1)
    raise AssertionError("the sandbox did not finish the execution in 60 s")


def test_an_execution_amc_finished_gets_its_run_launched_which_resumes_it(setup):
    execution_id, amc_id = left_by_a_dead_run(setup, latency_seconds=1.0)
    waiting = tick(setup)
    assert [a.did for a in waiting.actions] == [Did.WAITING]
    assert "still working" in waiting.actions[0].message and not waiting.launches

    until_amc_is_done(setup)
    healed = tick(setup)
    [launch] = healed.launches
    assert (launch.execution_id, launch.amc_execution_id) == (str(execution_id), amc_id)
    assert launch.key.week_start == WEEK and "SUCCEEDED" in launch.message
    assert setup.warehouse.get_execution(execution_id).status == "SUCCEEDED"

    # The launched run: takes the week over from the dead run, resumes, loads; nothing new.
    outcome = setup.collector().collect(
        WEEK, dagster_run_id="healing-run", run_is_alive=lambda _: False
    )
    assert outcome.resumed and outcome.submissions == 0
    assert (outcome.execution_id, outcome.amc_execution_id) == (execution_id, amc_id)
    assert len(setup.submissions()) == 1
    assert tick(setup).actions == []  # nothing left to heal


def test_an_execution_amc_failed_fails_its_week_with_amcs_reason(setup):
    execution_id, amc_id = left_by_a_dead_run(
        setup, fail_next=1, failure_reason="Column 'bogus' does not exist", latency_seconds=0.2
    )
    until_amc_is_done(setup)
    [action] = tick(setup).actions
    assert action.did is Did.FAILED and "bogus" in action.message
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.failure_kind) == ("failed", "query_error")
    assert "bogus" in row.error_message and amc_id in row.error_message
    assert setup.warehouse.get_execution(execution_id).status == "FAILED"


def test_a_failure_on_amcs_side_gets_the_next_attempt_launched(setup):
    execution_id, amc_id = left_by_a_dead_run(setup, fail_next=1, latency_seconds=0.2)
    until_amc_is_done(setup)  # AMC failed it: "internal error", on its side
    [retry] = tick(setup).launches
    assert retry.did is Did.RETRY and retry.attempt == 2 and "attempt 2 of 3" in retry.message
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.failure_kind) == ("failed", "transient")

    # The launched run is the week's next attempt: it submits anew, as attempt 2.
    outcome = setup.collector().collect(WEEK, dagster_run_id="retry-run", first_attempt=2)
    assert outcome.submissions == 1 and outcome.execution_id != execution_id
    assert setup.warehouse.get_execution(outcome.execution_id).attempt == 2
    assert sorted(s["status"] for s in setup.submissions()) == ["FAILED", "SUCCEEDED"]


def test_an_execution_amc_lost_is_marked_lost_and_its_week_tried_again(setup):
    execution_id, _ = left_by_a_dead_run(setup, lose_next=1)
    [action] = tick(setup).actions
    assert action.did is Did.RETRY and "404" in action.message
    assert setup.warehouse.get_execution(execution_id).status == "LOST"
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.failure_kind) == ("failed", "lost")


def test_without_attempts_left_a_failure_on_amcs_side_only_fails_the_week(setup_factory):
    setup = setup_factory("    max_attempts: 1\n")
    left_by_a_dead_run(setup, fail_next=1, latency_seconds=0.2)
    until_amc_is_done(setup)
    [action] = tick(setup).actions
    assert action.did is Did.FAILED and "transient" in action.message


def test_a_week_left_running_with_nothing_in_flight_is_released(setup):
    setup.warehouse.life.claim(setup.key(WEEK), run_id="dead-run")
    [action] = tick(setup).actions
    assert action.did is Did.RELEASED and "dead-run" in action.message
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.failure_kind) == ("failed", "interrupted")
    assert setup.submissions() == []  # released, not re-submitted behind anyone's back


def test_weeks_a_live_or_queued_run_has_are_left_alone(setup):
    left_by_a_dead_run(setup, latency_seconds=0.2)
    until_amc_is_done(setup)
    assert tick(setup, alive={"dead-run"}).actions == []  # the holder is in fact alive
    assert tick(setup, active=True).actions == []  # a run for the week is queued
    assert tick(setup, launched=True).actions == []  # its run was launched once already
    assert [a.did for a in tick(setup).launches] == ["launch"]
    assert setup.warehouse.get_week(setup.report.name, WEEK).status == "running"
