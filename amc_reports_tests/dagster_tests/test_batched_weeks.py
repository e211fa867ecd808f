"""Backfills that batch several weeks into one run (`backfill_weeks_per_run`)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from amc_reports.orchestration.checks import WEEKLY_CHECKS
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports_tests.support.reports import collection_job, report_yaml

RANGE = ("2026-03-01", "2026-03-15")
WEEKS = [date(2026, 3, 1), date(2026, 3, 8), date(2026, 3, 15)]


def run_range(
    harness, backfill_id: str | None = None, retry_of: str | None = None
) -> dg.ExecuteInProcessResult:
    """Run the range of weeks; `retry_of` a run id: as Dagster's run retry of that run (its
    parent and root run tags)."""
    harness.start_automation()
    key = report_asset_key(harness.report)
    job = collection_job(harness.definitions(), [key])
    tags = {
        "dagster/asset_partition_range_start": RANGE[0],
        "dagster/asset_partition_range_end": RANGE[1],
    }
    if backfill_id:
        tags["dagster/backfill"] = backfill_id
    if retry_of:
        tags["dagster/parent_run_id"] = tags["dagster/root_run_id"] = retry_of
    return job.execute_in_process(instance=harness.dagster, raise_on_error=False, tags=tags)


def batched(harness_factory):
    return harness_factory(report_yaml() + "    backfill_weeks_per_run: 3\n")


def test_a_range_run_collects_each_week_with_its_own_ids(harness_factory):
    harness = batched(harness_factory)
    assert harness.report.backfill_weeks_per_run == 3
    result = run_range(harness)
    assert result.success

    materializations = {
        e.event_specific_data.materialization.partition: e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
    }
    assert set(materializations) == {w.isoformat() for w in WEEKS}
    submitted = {s["execution_id"] for s in harness.submissions()}
    assert len(submitted) == 3
    for week in WEEKS:
        row = harness.warehouse.get_week(harness.report.name, week)
        assert row.status == "completed"
        metadata = materializations[week.isoformat()].metadata
        assert metadata["execution_id"].value == str(row.execution_id)
        assert metadata["amc_execution_id"].value == row.amc_execution_id
        assert row.amc_execution_id in submitted
    # One collection row for the run, covering the three weeks.
    collection = harness.warehouse.get_collection(
        harness.warehouse.get_week(harness.report.name, WEEKS[0]).collection_id
    )
    assert collection.weeks == WEEKS and collection.weeks_completed == 3
    # The range run ran no check; then each week's checks ran, and passed, week by week.
    assert result.get_asset_check_evaluations() == []
    evaluations = harness.run_weekly_checks()
    assert set(evaluations) == {(w.isoformat(), name) for w in WEEKS for name in WEEKLY_CHECKS}
    failing = [(key, e.description) for key, e in evaluations.items() if not e.passed]
    assert not failing, failing


def test_one_failing_week_fails_the_run_but_keeps_the_others(harness_factory):
    harness = batched(harness_factory)
    harness.set_faults(fail_next=1, failure_reason="Query exceeded resource limits")
    result = run_range(harness)
    assert not result.success
    rows = {w: harness.warehouse.get_week(harness.report.name, w) for w in WEEKS}
    failed = [w for w, r in rows.items() if r.status == "failed"]
    assert len(failed) == 1
    assert "Query exceeded resource limits" in rows[failed[0]].error_message
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "1 of 3 weeks failed" in message and failed[0].isoformat() in message

    # The weeks that succeeded are materialized with their own ids.
    key = dg.AssetKey(["amc", "test", harness.report.name])
    for week in WEEKS:
        records = harness.dagster.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[week.isoformat()]), limit=1
        ).records
        if week in failed:
            assert not records
            continue
        metadata = records[0].asset_materialization.metadata
        assert metadata["execution_id"].value == str(rows[week].execution_id)

    # Only the weeks that were collected are checked; the failed one is the run's failure only.
    checked = {week for week, _ in harness.run_weekly_checks()}
    assert checked == {w.isoformat() for w in WEEKS if w not in failed}


def test_a_retried_batch_reuses_the_weeks_its_first_run_already_collected(harness_factory):
    harness = batched(harness_factory)
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    first = run_range(harness, backfill_id="bf-retry")
    assert not first.success
    before = {w: harness.warehouse.get_week(harness.report.name, w) for w in WEEKS}
    [failed] = [w for w, r in before.items() if r.status == "failed"]

    # The retry comes after its backfill ended: it carries no backfill tag, only its root run.
    retry = run_range(harness, retry_of=first.run_id)
    assert retry.success
    assert len(harness.submissions()) == 4  # 3 first, then only the failed week again
    for week in WEEKS:
        row = harness.warehouse.get_week(harness.report.name, week)
        assert row.status == "completed"
        if week != failed:
            assert row.execution_id == before[week].execution_id
    collection = harness.warehouse.get_collection(
        harness.warehouse.get_week(harness.report.name, failed).collection_id
    )
    assert (collection.dagster_run_id, collection.root_run_id) == (retry.run_id, first.run_id)

    # Another backfill of the same weeks collects them again, on purpose.
    assert run_range(harness, backfill_id="bf-refresh").success
    assert len(harness.submissions()) == 7
