"""Final and provisional weeks in Dagster: the partitions a user can pick, the metadata and checks
of a provisional week, the sensor collecting it again once final, restatements of final weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from amc_reports.orchestration.checks import FINAL_CHECK, RESTATEMENT_CHECK
from amc_reports.orchestration.partitions import weekly_partitions
from amc_reports.orchestration.sensors.provisional_weeks import (
    FINAL_RECOLLECTION_SENSOR,
    final_recollection_requests,
)
from amc_reports.weeks import WeekWindow, newest_offered_week
from amc_reports_tests.support.reports import report_yaml

FINAL_WEEK = "2026-03-08"


def checks_of(harness, week: str) -> dict[str, dg.AssetCheckEvaluation]:
    """The week's checks, run after its collection as the amc_weekly_checks sensor does."""
    return {name: e for (w, name), e in harness.run_weekly_checks().items() if w == week}


def materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    [event] = result.get_asset_materialization_events()
    return event.event_specific_data.materialization


def newest_completed_week(now: datetime) -> date:
    return newest_offered_week(
        now,
        week_start_weekday=6,
        time_zone="America/New_York",
        lag_days=14,
        collects_provisional=True,
    )


def test_a_report_of_final_weeks_offers_only_final_weeks(harness):
    now = datetime.now(UTC)
    keys = weekly_partitions(harness.report).get_partition_keys(current_time=now)
    # Latest (the last partition) is the newest final week: it ended at least 14 days ago.
    newest = date.fromisoformat(keys[-1])
    assert newest == newest_completed_week(now) - timedelta(days=14)
    final_at = WeekWindow(newest, "America/New_York").final_at(14)
    next_final_at = WeekWindow(newest + timedelta(days=7), "America/New_York").final_at(14)
    assert final_at <= now < next_final_at


def test_a_provisional_week_is_marked_where_a_user_looks(harness_factory):
    harness = harness_factory(report_yaml() + "    provisional_weeks: collect\n")
    week = newest_completed_week(datetime.now(UTC))  # ended days ago: not final yet
    assert week.isoformat() == weekly_partitions(harness.report).get_partition_keys()[-1]
    result = harness.materialize(week.isoformat())
    assert result.success

    metadata = materialization(result).metadata
    assert metadata["week_status"].value.startswith("PROVISIONAL")
    assert metadata["provisional"].value is True
    checks = checks_of(harness, week.isoformat())
    assert not checks[FINAL_CHECK].passed
    assert checks[FINAL_CHECK].severity == dg.AssetCheckSeverity.WARN
    assert "PROVISIONAL" in checks[FINAL_CHECK].description
    row = harness.warehouse.get_week(harness.report.name, week)
    assert row.provisional and row.final_at > datetime.now(UTC)

    # Once final, the sensor asks for the week again (once: the run key names the collection).
    later = row.final_at + timedelta(hours=1)
    targets = list(harness.config.targets())
    [request] = final_recollection_requests(targets, harness.resources["warehouse"], later)
    assert request.partition_key == week.isoformat()
    assert str(row.execution_id) in request.run_key
    earlier = row.final_at - timedelta(hours=1)
    assert final_recollection_requests(targets, harness.resources["warehouse"], earlier) == []
    defs = harness.definitions()
    sensor = defs.resolve_sensor_def(FINAL_RECOLLECTION_SENSOR)
    with dg.build_sensor_context(
        instance=harness.dagster,
        resources={"warehouse": harness.resources["warehouse"]},
        definitions=defs,
    ) as context:
        tick = sensor.evaluate_tick(context)
    assert not tick.run_requests and tick.skip_message  # now is before final_at


def test_recollecting_a_final_week_records_and_checks_the_restatement(harness):
    first = harness.materialize(FINAL_WEEK)
    assert first.success
    assert materialization(first).metadata["week_status"].value == "final"
    assert checks_of(harness, FINAL_WEEK)[RESTATEMENT_CHECK].passed

    harness.set_faults(rows=50)  # AMC restated the week: more rows than before
    second = harness.materialize(FINAL_WEEK)
    assert second.success
    metadata = materialization(second).metadata
    assert metadata["restated_rows_before"].value == 40
    assert metadata["restated_rows_after"].value == 50
    assert metadata["restated_from_provisional"].value is False
    check = checks_of(harness, FINAL_WEEK)[RESTATEMENT_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "changed by more than 1 %" in check.description

    versions = harness.warehouse.list_versions(harness.report.name, date.fromisoformat(FINAL_WEEK))
    assert [v.state for v in versions] == ["history", "current"]
