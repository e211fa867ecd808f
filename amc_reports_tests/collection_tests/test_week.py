"""`WeekCollector` on its own: claim, submit or resume, poll, load, record; and its failures."""

from __future__ import annotations

from datetime import date

import pytest

from amc_reports.collection import ExecutionFailedError, SubmissionError, WeekBusyError
from amc_reports.warehouse import WeekKey

WEEK = date(2026, 3, 8)


def test_a_week_is_collected_with_both_ids_on_its_row(setup):
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-1")
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert row.status == "completed"
    assert (row.execution_id, row.amc_execution_id) == (
        outcome.execution_id,
        outcome.amc_execution_id,
    )
    assert row.record_count == outcome.load.record_count == 25
    assert [s["execution_id"] for s in setup.submissions()] == [outcome.amc_execution_id]
    assert setup.warehouse.count_week_rows(setup.report.name, WEEK) == {outcome.execution_id: 25}
    assert not outcome.resumed and outcome.submissions == 1


def test_a_week_held_by_a_live_run_is_refused_and_taken_over_once_it_ended(setup):
    key = WeekKey(setup.report.name, "test", WEEK)
    setup.warehouse.life.claim(key, run_id="holder")
    with pytest.raises(WeekBusyError) as busy:
        setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: True)
    assert busy.value.holder_run_id == "holder"
    assert setup.submissions() == []
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: False)
    assert setup.warehouse.get_week(setup.report.name, WEEK).dagster_run_id == "run-2"
    assert outcome.load.record_count == 25


def test_an_execution_left_by_a_dead_run_is_resumed_not_paid_again(setup):
    # A run claimed the week, submitted to AMC and died before the result came back.
    execution_id, amc_id = setup.left_by_a_dead_run(WEEK)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", run_is_alive=lambda _: False)
    assert outcome.resumed and outcome.submissions == 0
    assert (outcome.execution_id, outcome.amc_execution_id) == (execution_id, amc_id)
    assert len(setup.submissions()) == 1


def test_an_amc_failure_fails_the_week_with_amcs_reason(setup):
    setup.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    with pytest.raises(ExecutionFailedError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert row.status == "failed" and "bogus" in row.error_message
    assert failed.value.amc_execution_id == row.amc_execution_id
    assert setup.warehouse.get_execution(row.execution_id).status == "FAILED"


def test_a_rejected_execution_is_submitted_again(setup):
    setup.set_faults(reject_next=1)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert outcome.submissions == 2
    assert sorted(s["status"] for s in setup.submissions()) == ["REJECTED", "SUCCEEDED"]


def test_an_interrupt_while_amc_works_cancels_the_execution(setup):
    setup.set_faults(latency_seconds=600)

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt  # what a terminated run raises in the step

    with pytest.raises(KeyboardInterrupt):
        setup.collector(sleep=interrupted).collect(WEEK, dagster_run_id="run-1")
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert row.status == "failed" and "terminated" in row.error_message
    [submission] = setup.submissions()
    assert submission["status"] == "CANCELLED"
    assert setup.warehouse.get_execution(row.execution_id).status == "CANCELLED"


def test_sql_that_does_not_parse_is_refused_before_any_amc_time(setup_factory):
    setup = setup_factory(sql='"SELECT campaign, SUM(impressions) FROM dsp_impressions WHERE ((("')
    with pytest.raises(SubmissionError) as refused:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert "does not parse" in str(refused.value) and "line 1" in str(refused.value)
    assert refused.value.kind == "query_error"
    assert setup.submissions() == []
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.failure_kind, row.amc_execution_id) == (
        "failed",
        "query_error",
        None,
    )
    assert setup.warehouse.list_executions(setup.report.name, WEEK) == []
