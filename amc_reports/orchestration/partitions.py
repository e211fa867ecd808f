"""Weekly partitions, asset keys and what a collection run selects, built in one place for assets,
checks, jobs, schedules and sensors."""

from __future__ import annotations

from functools import cache

import dagster as dg

from amc_reports.config import InstanceConfig, ReportConfig
from amc_reports.weeks import hidden_weeks


def report_asset_key(report: ReportConfig, instance: InstanceConfig | None = None) -> dg.AssetKey:
    """`amc/<instance alias>/<report>`: where the data comes from, then what it is."""
    return dg.AssetKey(["amc", (instance or report.instance).alias, report.name])


def collection_selection(keys: list[dg.AssetKey]) -> dg.AssetSelection:
    """What a run that collects weeks selects: the report assets, without their checks. The weekly
    checks run after each collected week in a run of their own (see `checks`), so a collection
    that fails leaves no check marked failed."""
    return dg.AssetSelection.assets(*keys).without_checks()


@cache
def _weekly(
    start: str, day_offset: int, timezone: str, end_offset: int
) -> dg.WeeklyPartitionsDefinition:
    return dg.WeeklyPartitionsDefinition(
        start_date=start, day_offset=day_offset, timezone=timezone, end_offset=end_offset
    )


def weekly_partitions(report: ReportConfig) -> dg.WeeklyPartitionsDefinition:
    """Week start dates from the report's start date, up to the newest week the report offers.

    A report that collects final weeks only (`provisional_weeks: skip`, the default) offers a week
    once it is final: its lag rounded up to whole weeks after it ends (`weeks.hidden_weeks`), so
    the weeks a user can pick, backfill or get from **Latest** are final. A report that collects
    provisional weeks offers every completed week. Reports with the same start, week start, zone
    and offer share one definition object.
    """
    day_offset = 0 if report.week_starts_on == "sunday" else 1
    end_offset = -hidden_weeks(report.lag_days, report.collects_provisional)
    return _weekly(report.start_date.isoformat(), day_offset, report.timezone, end_offset)
