"""`collect_weeks`: the weeks of one run, their collection row, reuse and failures (no Dagster)."""

from __future__ import annotations

from datetime import date

from amc_reports.collection import RunInfo, collect_weeks
from amc_reports.warehouse import CollectionType

WEEKS = [date(2026, 3, 1), date(2026, 3, 8), date(2026, 3, 15)]


def run(setup, backfill_id: str | None, run_id: str, root_run_id: str | None = None):
    return collect_weeks(
        setup.report.name,
        setup.report.instance.alias,
        WEEKS,
        warehouse=setup.warehouse,
        collector=lambda sleep: setup.collector(sleep=sleep),
        run=RunInfo(
            run_id=run_id,
            collection_type=CollectionType.BACKFILL,
            backfill_id=backfill_id,
            root_run_id=root_run_id,
        ),
    )


def test_a_batch_collects_each_week_and_records_the_collection(setup):
    batch = run(setup, "bf-1", "run-1")
    assert list(batch.outcomes) == WEEKS and not batch.failures
    ids = {outcome.amc_execution_id for outcome in batch.outcomes.values()}
    assert ids == {s["execution_id"] for s in setup.submissions()}
    row = setup.warehouse.get_week(setup.report.name, WEEKS[0])
    collection = setup.warehouse.get_collection(row.collection_id)
    assert (collection.status, collection.weeks_completed, collection.weeks) == (
        "completed",
        3,
        WEEKS,
    )


def test_a_failed_week_is_returned_and_a_retry_of_the_run_reuses_the_others(setup):
    setup.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    first = run(setup, "bf-2", "run-1")
    assert len(first.failures) == 1 and len(first.outcomes) == 2
    [failed] = first.failures
    collection = setup.warehouse.get_collection(
        setup.warehouse.get_week(setup.report.name, failed).collection_id
    )
    assert (collection.status, collection.weeks_failed) == ("failed", 1)

    retry = run(setup, "bf-2", "run-2", root_run_id="run-1")  # a retry of run-1
    assert not retry.failures
    assert len(setup.submissions()) == 4  # only the failed week was submitted again
    for week, outcome in first.outcomes.items():
        assert retry.outcomes[week].execution_id == outcome.execution_id
        assert retry.outcomes[week].resumed
