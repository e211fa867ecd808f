"""Lag-aware weekly schedules: each tick requests the newest week that has become final."""

from datetime import UTC, datetime

import dagster as dg

from amc_reports.config import ReportConfig
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.weeks import newest_final_week

SCHEDULE_HOUR = 6


def cron_for(report: ReportConfig) -> str:
    """Weekly, at 06:00 local on the weekday a new week becomes final (week start + lag days)."""
    python_weekday = (report.week_start_weekday + report.lag_days) % 7  # Monday = 0
    cron_weekday = (python_weekday + 1) % 7  # Sunday = 0
    return f"0 {SCHEDULE_HOUR} * * {cron_weekday}"


def build_report_schedule(report: ReportConfig) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{report.name}_weekly",
        cron_schedule=cron_for(report),
        execution_timezone=report.timezone,
        target=dg.AssetSelection.assets(report_asset_key(report)),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Collects the newest final week of {report.name}: the week that ended "
            f"{report.lag_days} days ago ({report.timezone})."
        ),
    )
    def weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        now = context.scheduled_execution_time or datetime.now(UTC)
        week = newest_final_week(
            now,
            week_start_weekday=report.week_start_weekday,
            time_zone=report.timezone,
            lag_days=report.lag_days,
        )
        if week < report.start_date:
            return dg.SkipReason(
                f"No week of {report.name} is final yet (first week {report.start_date})."
            )
        return dg.RunRequest(
            run_key=f"{report.name}:{week.isoformat()}", partition_key=week.isoformat()
        )

    return weekly
