"""Nothing is lost on an empty answer: a result of no bytes at all, or AMC answering an empty list
of download URLs, fails the week with a clear reason and keeps its previous rows; a result with a
header and no rows is a legitimate empty week."""

from __future__ import annotations

from datetime import date

import pytest

from amc_reports.collection import LoadError

WEEK = date(2026, 3, 1)


def _collect_first(setup):
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-1")
    assert outcome.load.record_count == 25
    return outcome


def _assert_week_kept(setup, first) -> None:
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    # The week says its last collection failed; its stored rows are still the previous
    # collection's, which stays the week's current version.
    assert row.status == "failed" and row.execution_id != first.execution_id
    assert setup.warehouse.count_week_rows(setup.report.name, WEEK) == {first.execution_id: 25}
    assert setup.warehouse.get_version(first.execution_id).state == "current"
    assert setup.warehouse.get_version(row.execution_id) is None


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ({"csv_fault": "empty"}, "not even a header line"),
        ({"no_urls_next": 1}, "empty list of download URLs"),
    ],
    ids=["zero-bytes", "no-download-urls"],
)
def test_an_empty_answer_fails_the_week_and_keeps_its_rows(setup_factory, faults, reason):
    setup = setup_factory()
    first = _collect_first(setup)

    setup.set_faults(**faults)
    with pytest.raises(LoadError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-2")
    assert reason in str(failed.value)
    assert "previous rows are untouched" in str(failed.value)
    _assert_week_kept(setup, first)
    # The failed collection is on record, with AMC's id and the reason.
    [failed_execution] = [
        e
        for e in setup.warehouse.list_executions(setup.report.name, WEEK)
        if e.id != first.execution_id
    ]
    assert failed_execution.amc_execution_id and not failed_execution.is_loaded
    assert failed_execution.failure_kind == "load_error"
    assert reason in setup.warehouse.get_week(setup.report.name, WEEK).error_message


def test_a_header_without_rows_is_a_legitimate_empty_week(setup_factory):
    setup = setup_factory()
    _collect_first(setup)
    setup.set_faults(rows=0)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2")
    assert outcome.load.record_count == 0
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.record_count, row.execution_id) == (
        "completed",
        0,
        outcome.execution_id,
    )
    assert setup.warehouse.count_week_rows(setup.report.name, WEEK) == {}
