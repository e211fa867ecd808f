"""Weekly partitions and asset keys, built in one place for assets, checks and schedules."""

from __future__ import annotations

from functools import cache

import dagster as dg

from amc_reports.config import ReportConfig


def report_asset_key(report: ReportConfig) -> dg.AssetKey:
    """`amc/<instance alias>/<report>`: where the data comes from, then what it is."""
    return dg.AssetKey(["amc", report.instance.alias, report.name])


@cache
def _weekly(start: str, day_offset: int, timezone: str) -> dg.WeeklyPartitionsDefinition:
    return dg.WeeklyPartitionsDefinition(
        start_date=start, day_offset=day_offset, timezone=timezone, end_offset=0
    )


def weekly_partitions(report: ReportConfig) -> dg.WeeklyPartitionsDefinition:
    """Week start dates from the report's start date; the last key is the last completed week.

    Reports with the same start, week start and zone share one definition object.
    """
    day_offset = 0 if report.week_starts_on == "sunday" else 1
    return _weekly(report.start_date.isoformat(), day_offset, report.timezone)
