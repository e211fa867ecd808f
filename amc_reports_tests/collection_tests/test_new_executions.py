"""A result that cannot be loaded is not resumed forever: after `max_load_failures` failed loads
of the same AMC execution the next attempt submits a new one (recorded, with the reason); and a
person can ask for a new execution of a week."""

from __future__ import annotations

from datetime import date

import pytest

from amc_reports.collection import LoadError

WEEK = date(2026, 3, 1)


def test_after_three_failed_loads_a_new_execution_is_submitted(setup):
    setup.set_faults(csv_fault="empty")  # every result file zero bytes
    errors = []
    for n in range(3):
        with pytest.raises(LoadError) as failed:
            setup.collector().collect(WEEK, dagster_run_id=f"run-{n}")
        errors.append(failed.value)
    first = errors[0].execution_id
    assert {error.execution_id for error in errors} == {first}  # the same execution, resumed
    assert len(setup.submissions()) == 1  # nothing paid twice so far
    assert "downloads the same result" in str(errors[0])
    assert "submits a new AMC execution" in str(errors[2])
    assert setup.warehouse.get_execution(first).load_failures == 3

    setup.set_faults(csv_fault=None)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-3")
    assert outcome.execution_id != first and outcome.submissions == 1 and not outcome.resumed
    assert outcome.load.record_count == 25
    assert len(setup.submissions()) == 2
    given_up = setup.warehouse.get_execution(first)
    assert given_up.row_count is None and given_up.failure_kind == "load_error"
    assert "failed to load 3 times" in given_up.failure_reason
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.execution_id) == ("completed", outcome.execution_id)


def test_before_the_bound_a_result_is_loaded_again_from_the_same_execution(setup):
    setup.set_faults(no_urls_next=1)  # once: AMC lists no result files
    with pytest.raises(LoadError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2")
    assert outcome.resumed and outcome.submissions == 0
    assert outcome.execution_id == failed.value.execution_id
    assert len(setup.submissions()) == 1


def test_a_new_execution_asked_for_is_submitted_even_when_one_could_be_resumed(setup):
    setup.set_faults(csv_fault="empty")
    with pytest.raises(LoadError) as failed:
        setup.collector().collect(WEEK, dagster_run_id="run-1")
    setup.set_faults(csv_fault=None)
    outcome = setup.collector().collect(WEEK, dagster_run_id="run-2", new_execution=True)
    assert outcome.execution_id != failed.value.execution_id and outcome.submissions == 1
    assert len(setup.submissions()) == 2
