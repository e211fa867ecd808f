"""Never paying twice and healing, on the collection procedure (no Dagster): the sandbox over
HTTP and a real PostgreSQL. Each test counts what AMC was asked to run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from amc_reports.collection import (
    CircuitBreakerOpen,
    CollectionError,
    ExecutionFailedError,
    PollPolicy,
    SubmissionError,
    WeekSuperseded,
)

WEEK = date(2026, 3, 8)


# -- never pay twice ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["missing_id_next", "drop_create_next"])
def test_an_execution_amc_never_named_is_adopted_in_the_same_attempt(setup, fault):
    setup.set_faults(**{fault: 1})
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-1")
    [submission] = setup.submissions()  # AMC ran one execution, and we paid for one
    assert outcome.adopted and outcome.submissions == 1
    assert outcome.amc_execution_id == submission["execution_id"]
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.amc_execution_id) == ("completed", submission["execution_id"])
    assert setup.warehouse.get_execution(outcome.execution_id).status == "SUCCEEDED"


def test_an_unnamed_execution_amc_never_lists_is_submitted_anew_after_a_backoff(setup):
    # AMC answers without an id and forgets the execution: it never shows in AMC's list.
    setup.set_faults(missing_id_next=1, lose_next=1)
    waits: list[float] = []
    outcome = setup.collector(sleep=waits.append).collect(WEEK, dagster_run_id="run-1")
    assert not outcome.adopted and outcome.retried == 1
    assert 0.05 in waits  # looked again after the retry policy's backoff, then submitted
    first, second = setup.warehouse.list_executions(setup.report.name, WEEK)
    assert (first.status, first.attempt, second.status, second.attempt) == (
        "LOST",
        1,
        "SUCCEEDED",
        2,
    )
    assert [s["execution_id"] for s in setup.submissions()] == [outcome.amc_execution_id]


def test_without_attempts_left_an_unlisted_execution_fails_the_week_untracked(setup_factory):
    setup = setup_factory("    max_attempts: 1\n")
    setup.set_faults(missing_id_next=1, lose_next=1)
    with pytest.raises(SubmissionError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind == "untracked" and "looks for it again" in str(failed.value)
    [execution] = setup.warehouse.list_executions(setup.report.name, WEEK)
    assert execution.status == "UNTRACKED"  # the next attempt looks for it again


def test_an_untracked_execution_of_an_earlier_attempt_is_adopted_not_submitted(setup):
    execution_id, amc_id = setup.left_by_a_dead_run(WEEK, untracked=True)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: False)
    assert outcome.adopted and outcome.resumed and outcome.submissions == 0
    assert (outcome.execution_id, outcome.amc_execution_id) == (execution_id, amc_id)
    assert len(setup.submissions()) == 1


def test_an_untracked_execution_amc_never_created_is_lost_and_a_new_one_submitted(setup):
    never_sent = setup.record_submission(WEEK)
    setup.warehouse.life.mark_untracked(never_sent, "interrupted while submitting")
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: False)
    assert not outcome.adopted and outcome.submissions == 1
    assert setup.warehouse.get_execution(never_sent).status == "LOST"
    assert len(setup.submissions()) == 1


def test_an_execution_amc_no_longer_knows_is_lost_and_submitted_anew(setup):
    setup.set_faults(lose_next=1)
    execution_id, amc_id = setup.left_by_a_dead_run(WEEK)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: False)
    lost = setup.warehouse.get_execution(execution_id)
    assert (lost.status, lost.failure_kind) == ("LOST", "lost")
    assert "404" in lost.failure_reason
    assert outcome.execution_id != execution_id and outcome.retried == 1
    assert [s["execution_id"] for s in setup.submissions()] == [outcome.amc_execution_id]


def test_a_run_whose_claim_was_taken_over_stores_nothing(setup):
    setup.set_faults(latency_seconds=1.0)
    taken = []

    def take_over_while_polling(seconds: float) -> None:
        if not taken:  # the run is thought dead; another one takes the week over
            taken.append(
                setup.warehouse.life.take_over(setup.key(WEEK), run_id="run-B", from_run_id="run-A")
            )

    with pytest.raises(WeekSuperseded) as superseded:
        setup.collector(sleep=take_over_while_polling).collect(WEEK, dagster_run_id="run-A")
    assert superseded.value.kind == "superseded"
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.dagster_run_id, row.record_count) == ("running", "run-B", None)
    assert setup.warehouse.count_week_rows(setup.report.name, WEEK) == {}

    # The holder resumes the same execution and loads it: nothing paid twice.
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-B")
    assert outcome.resumed and outcome.execution_id == superseded.value.execution_id
    assert len(setup.submissions()) == 1


# -- heal --------------------------------------------------------------------------------------


def test_a_transient_amc_failure_is_submitted_again_with_backoff(setup):
    setup.set_faults(fail_next=1)  # "internal error": AMC's side
    waits: list[float] = []
    outcome = setup.collector(sleep=waits.append).collect(WEEK, dagster_run_id="run-1")
    assert outcome.retried == 1 and outcome.submissions == 2
    assert sorted(s["status"] for s in setup.submissions()) == ["FAILED", "SUCCEEDED"]
    assert 0.05 in waits  # the retry policy's first backoff
    executions = setup.warehouse.list_executions(setup.report.name, WEEK)
    assert [(e.attempt, e.status, e.failure_kind) for e in executions] == [
        (1, "FAILED", "transient"),
        (2, "SUCCEEDED", None),
    ]


def test_transient_failures_stop_at_max_attempts(setup_factory):
    setup = setup_factory("    max_attempts: 2\n")
    setup.set_faults(fail_next=5)
    with pytest.raises(ExecutionFailedError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind == "transient"
    assert "2 time(s)" in str(failed.value)
    assert len(setup.submissions()) == 2
    assert setup.warehouse.get_week(setup.report.name, WEEK).failure_kind == "transient"


def test_a_query_error_is_never_submitted_again(setup):
    setup.set_faults(fail_next=5, failure_reason="Query exceeded resource limits")
    with pytest.raises(ExecutionFailedError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind == "query_error" and "not retried" in str(failed.value)
    assert len(setup.submissions()) == 1


def test_an_execution_past_its_wait_limit_is_cancelled(setup):
    setup.set_faults(latency_seconds=600)
    collector = setup.collector(poll=PollPolicy(min_seconds=0.05, max_wait_seconds=0.5))
    with pytest.raises(ExecutionFailedError) as failed:
        collector.collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind == "timeout"
    [submission] = setup.submissions()
    assert submission["status"] == "CANCELLED"
    assert setup.warehouse.get_execution(failed.value.execution_id).status == "CANCELLED"


def test_the_circuit_breaker_stops_a_backfill_of_a_broken_query(setup):
    setup.set_faults(fail_rate=1.0, failure_reason="Column 'bogus' does not exist")
    weeks = [WEEK + timedelta(weeks=n) for n in range(5)]
    errors: list[CollectionError] = []
    for week in weeks:  # one run per week, in order
        with pytest.raises(CollectionError) as failed:
            setup.collector().collect(week, dagster_run_id=f"run-{week}", backfill_id="bf-1")
        errors.append(failed.value)
    assert [e.kind for e in errors] == ["query_error"] * 3 + ["circuit_breaker"] * 2
    assert [e.tripped_breaker for e in errors] == [False, False, True, False, False]
    assert len(setup.submissions()) == 3  # the last two weeks were not submitted
    for blocked in errors[3:]:
        assert isinstance(blocked, CircuitBreakerOpen)
        message = str(blocked)
        assert f"week {weeks[0]}" in message and "bogus" in message  # names the first failure
        assert "not submitted" in message
    row = setup.warehouse.get_week(setup.report.name, weeks[4])
    assert (row.status, row.failure_kind) == ("failed", "circuit_breaker")

    # Another backfill (the query fixed) starts with a breaker of its own.
    setup.set_faults(fail_rate=0.0)
    outcome = setup.collector().collect(weeks[4], dagster_run_id="run-x", backfill_id="bf-2")
    assert outcome.submissions == 1


def test_amc_unreachable_while_looking_for_an_untracked_execution_submits_nothing(setup):
    setup.set_faults(missing_id_next=1)
    collector = setup.collector()
    with setup.sandbox.client(retry_budget_seconds=0.5) as client:
        # AMC answers the list calls with 500s (beyond the client's retry budget): the week
        # fails, and nothing is submitted again blindly.
        listing = client.list_executions

        def failing_list(*args, **kwargs):
            setup.set_faults(error_rate=1.0)
            try:
                yield from listing(*args, **kwargs)
            finally:
                setup.set_faults(error_rate=0.0)

        client.list_executions = failing_list
        collector.amc = client
        with pytest.raises(SubmissionError) as failed:
            collector.collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind == "untracked"
    assert len(setup.submissions()) == 1
    [execution] = setup.warehouse.list_executions(setup.report.name, WEEK)
    assert execution.status == "UNTRACKED"  # the next attempt looks again
