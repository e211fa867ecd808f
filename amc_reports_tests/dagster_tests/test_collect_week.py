"""Materializing weeks for real: Dagster + the sandbox over HTTP + PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

import dagster as dg
from psycopg import sql

from amc_reports.orchestration.checks import (
    LINEAGE_CHECK,
    NOT_EMPTY_CHECK,
    ROW_COUNT_CHECK,
    SCHEMA_CHECK,
)
from amc_reports.warehouse import WeekKey
from amc_reports_tests.support.reports import REPORT_SQL, report_yaml
from amc_reports_tests.support.warehouse import insert_stray_rows

WEEK = "2026-03-08"


def materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    events = result.get_asset_materialization_events()
    assert len(events) == 1
    return events[0].event_specific_data.materialization


def stored_rows_by_execution(harness, week: str) -> dict[str, int]:
    table = harness.warehouse.results_table(harness.report.name)
    with harness.warehouse.connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT execution_id::text, count(*) FROM {} WHERE week_start_date = %s GROUP BY 1"
            ).format(sql.SQL(table)),
            (date.fromisoformat(week),),
        ).fetchall()
    return dict(rows)


def checks_by_name(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_one_week_end_to_end_ids_agree_everywhere(harness):
    result = harness.materialize(WEEK)
    assert result.success

    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert row.status == "completed"
    assert row.week_end_date == date(2026, 3, 14)
    assert row.execution_id is not None and row.amc_execution_id
    assert row.record_count == 40
    assert row.dagster_run_id == result.run_id

    metadata = materialization(result).metadata
    assert metadata["execution_id"].value == str(row.execution_id)
    assert metadata["amc_execution_id"].value == row.amc_execution_id
    # Which AMC: the sandbox, by its API host only (the week row says the same).
    assert (row.amc_source, metadata["amc_source"].value) == ("sandbox", "sandbox")
    assert metadata["amc_api_host"].value == row.amc_api_host
    assert row.amc_api_host.startswith("127.0.0.1:") and "/" not in row.amc_api_host
    assert metadata["dagster/row_count"].value == 40
    assert metadata["data_checksum"].value == row.data_checksum
    assert metadata["amc_time_window"].value == (
        "2026-03-08T00:00:00 to 2026-03-15T00:00:00 (end exclusive), America/New_York"
    )
    column_names = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert column_names[:3] == ["event_date", "campaign_id", "campaign_name"]
    preview = metadata["preview"].value
    assert [c.name for c in preview.schema.columns][:2] == ["event_date", "campaign_id"]
    assert len(preview.records) == 5 and "campaign_name" in preview.records[0].data

    # The sandbox saw exactly one submission, with that id and the week's window.
    submissions = harness.submissions()
    assert [s["execution_id"] for s in submissions] == [row.amc_execution_id]
    assert submissions[0]["time_window_start"].startswith("2026-03-08T00:00:00")
    assert submissions[0]["time_window_time_zone"] == "America/New_York"

    execution = harness.warehouse.get_execution(row.execution_id)
    assert execution.amc_execution_id == row.amc_execution_id
    assert execution.status == "SUCCEEDED"

    # Every stored row carries the execution that produced it.
    assert stored_rows_by_execution(harness, WEEK) == {str(row.execution_id): 40}

    # The collection ran no check; the week's checks ran afterwards, in a run of their own.
    assert result.get_asset_check_evaluations() == []
    checks = harness.run_weekly_checks()
    for name in (LINEAGE_CHECK, ROW_COUNT_CHECK, SCHEMA_CHECK, NOT_EMPTY_CHECK):
        assert checks[(WEEK, name)].passed, (name, checks[(WEEK, name)].description)
        assert checks[(WEEK, name)].partition == WEEK


def test_rematerialize_replaces_rows_with_new_ids(harness):
    first = harness.materialize(WEEK)
    assert first.success
    old = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))

    second = harness.materialize(WEEK)
    assert second.success
    new = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))

    assert new.execution_id != old.execution_id
    assert new.amc_execution_id != old.amc_execution_id
    assert stored_rows_by_execution(harness, WEEK) == {str(new.execution_id): 40}
    assert len(harness.submissions()) == 2
    assert materialization(second).metadata["execution_id"].value == str(new.execution_id)


def test_failed_execution_fails_the_week_with_amc_reason(harness):
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    result = harness.materialize(WEEK)
    assert not result.success

    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert row.status == "failed"
    assert "Column 'bogus' does not exist" in row.error_message
    assert row.amc_execution_id == harness.submissions()[0]["execution_id"]

    failure = result.get_step_failure_events()[0].step_failure_data.error
    message = failure.message
    for expected in (
        "weekly_perf",
        WEEK,
        str(row.execution_id),
        row.amc_execution_id,
        "Column 'bogus' does not exist",
    ):
        assert expected in message
    execution = harness.warehouse.get_execution(row.execution_id)
    assert execution.status == "FAILED"
    assert "bogus" in execution.failure_reason
    # A query error: said so to alerts, on the failure and on both rows, and not retried.
    metadata = result.get_step_failure_events()[0].step_failure_data.user_failure_data.metadata
    assert metadata["amc_reports/failure_kind"].value == "query_error"
    assert metadata["amc_execution_id"].value == row.amc_execution_id
    assert row.failure_kind == execution.failure_kind == "query_error"
    assert len(harness.submissions()) == 1


def test_an_execution_amc_created_without_an_id_is_adopted_not_paid_again(harness):
    assert harness.materialize("2026-03-01").success
    before = harness.warehouse.get_week(harness.report.name, date(2026, 3, 1))

    harness.set_faults(missing_id_next=1)
    result = harness.materialize(WEEK)
    assert result.success
    [submission] = [s for s in harness.submissions() if s["time_window_start"].startswith(WEEK)]
    assert submission["response_had_id"] is False  # AMC ran it but never named it to us
    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert row.status == "completed"
    assert row.amc_execution_id == submission["execution_id"]
    execution = harness.warehouse.get_execution(row.execution_id)
    assert (execution.status, execution.amc_execution_id) == ("SUCCEEDED", row.amc_execution_id)
    metadata = materialization(result).metadata
    assert metadata["adopted_execution"].value is True
    assert metadata["amc_submissions"].value == 1
    assert metadata["amc_execution_id"].value == submission["execution_id"]

    # The other week is untouched.
    after = harness.warehouse.get_week(harness.report.name, date(2026, 3, 1))
    assert (after.status, after.execution_id, after.record_count) == (
        before.status,
        before.execution_id,
        before.record_count,
    )


def test_rejected_execution_is_submitted_again(harness):
    harness.set_faults(reject_next=1)
    result = harness.materialize(WEEK)
    assert result.success
    statuses = sorted(s["status"] for s in harness.submissions())
    assert statuses == ["REJECTED", "SUCCEEDED"]
    metadata = materialization(result).metadata
    assert metadata["amc_submissions"].value == 2


def test_a_week_held_by_a_live_run_is_refused_without_submitting(harness):
    holder = dg.DagsterRun(
        job_name="collect_weekly_perf", run_id="holder-run", status=dg.DagsterRunStatus.STARTED
    )
    harness.dagster.add_run(holder)
    harness.warehouse.life.claim(
        WeekKey(harness.report.name, "test", date.fromisoformat(WEEK)), run_id=holder.run_id
    )
    result = harness.materialize(WEEK)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert holder.run_id in message and "nothing was submitted" in message
    assert harness.submissions() == []

    # Once that run has ended, the week is taken over.
    harness.dagster.report_run_failed(holder)
    assert harness.materialize(WEEK).success


def test_checks_fail_on_tampered_data(harness):
    assert harness.materialize("2026-03-01").success
    assert harness.materialize(WEEK).success
    week = date.fromisoformat(WEEK)
    row = harness.warehouse.get_week(harness.report.name, week)
    defs = harness.definitions()
    asset_key = dg.AssetKey(["amc", "test", harness.report.name])

    def run_checks() -> dict[str, dg.AssetCheckEvaluation]:
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_check_selection={
                dg.AssetCheckKey(asset_key, name)
                for name in (LINEAGE_CHECK, ROW_COUNT_CHECK, SCHEMA_CHECK, NOT_EMPTY_CHECK)
            },
            asset_selection=set(),
        )
        result = job.execute_in_process(
            partition_key=WEEK, instance=harness.dagster, raise_on_error=False
        )
        return checks_by_name(result)

    assert all(c.passed for c in run_checks().values())

    # Rows of a stray execution appear, and the week row names another AMC execution.
    insert_stray_rows(
        harness.warehouse,
        harness.report.name,
        week,
        uuid.uuid4(),
        {"campaign_id": 1},
        instance="test",
    )
    with harness.warehouse.connect() as conn:
        conn.execute(
            "UPDATE report_data_weeks SET amc_execution_id = 'tampered' "
            "WHERE report = %s AND week_start_date = %s",
            (harness.report.name, week),
        )
    checks = run_checks()
    assert not checks[ROW_COUNT_CHECK].passed
    assert checks[ROW_COUNT_CHECK].severity == dg.AssetCheckSeverity.ERROR
    assert "other executions" in checks[ROW_COUNT_CHECK].description
    assert not checks[LINEAGE_CHECK].passed
    assert "tampered" in checks[LINEAGE_CHECK].description
    assert row.execution_id is not None


def test_schema_change_warns_and_empty_week_warns(harness):
    assert harness.materialize("2026-03-01").success
    # The analyst renames a column: the next week's schema differs from the previous one.
    changed = harness.reconfigure(
        report_yaml(REPORT_SQL.replace("SUM(clicks) AS clicks", "SUM(clicks) AS clicks_total"))
    )
    harness.set_faults(rows=0)
    result = changed.materialize(WEEK)
    assert result.success
    checks = {name: e for (week, name), e in changed.run_weekly_checks().items() if week == WEEK}
    assert not checks[SCHEMA_CHECK].passed
    assert checks[SCHEMA_CHECK].severity == dg.AssetCheckSeverity.WARN
    assert "clicks_total" in checks[SCHEMA_CHECK].description
    assert not checks[NOT_EMPTY_CHECK].passed
    assert checks[NOT_EMPTY_CHECK].severity == dg.AssetCheckSeverity.WARN
    # Nothing was dropped: the old column is still there for the earlier week.
    columns = [name for name, _ in harness.warehouse.table_columns(harness.report.name)]
    assert "clicks" in columns and "clicks_total" in columns


def test_a_run_tagged_new_execution_submits_one_instead_of_resuming(harness):
    harness.set_faults(no_urls_next=1)  # AMC succeeds, its result cannot be loaded
    failed = harness.materialize(WEEK)
    assert not failed.success
    unloaded = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert unloaded.failure_kind == "load_error" and len(harness.submissions()) == 1

    result = harness.materialize(WEEK, tags={"amc_reports/new_execution": "true"})
    assert result.success
    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert row.execution_id != unloaded.execution_id and row.status == "completed"
    assert len(harness.submissions()) == 2  # without the tag the unloaded one is resumed
    assert materialization(result).metadata["amc_submissions"].value == 1
