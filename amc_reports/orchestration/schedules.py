"""Weekly schedules: each tick requests the newest week a report offers, on each of its instances.

For a report that collects final weeks only (the default), that is its newest final week (the
same week as its newest partition); for one that collects provisional weeks, the week that just
ended (collected again once it is final, by the provisional-weeks sensor).
"""

from datetime import UTC, datetime

import dagster as dg

from amc_reports.config import ReportConfig
from amc_reports.orchestration.partitions import collection_selection, report_asset_key
from amc_reports.orchestration.runs import collection_run_tags

SCHEDULE_HOUR = 6


def cron_for(report: ReportConfig) -> str:
    """Weekly at 06:00 local on the weekday weeks start: the moment a new week is offered."""
    cron_weekday = (report.week_start_weekday + 1) % 7  # Python Monday = 0 -> cron Sunday = 0
    return f"0 {SCHEDULE_HOUR} * * {cron_weekday}"


def build_report_schedule(report: ReportConfig) -> dg.ScheduleDefinition:
    keys = [report_asset_key(report, instance) for instance in report.instances]
    offered = (
        "the week that just ended"
        if report.collects_provisional
        else (f"its newest final week (final {report.lag_days} days after it ends)")
    )

    @dg.schedule(
        name=f"{report.name}_weekly",
        cron_schedule=cron_for(report),
        execution_timezone=report.timezone,
        target=collection_selection(keys),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Collects {offered} of {report.name} ({report.timezone}), on each instance.",
    )
    def weekly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        now = context.scheduled_execution_time or datetime.now(UTC)
        week = report.newest_week(now)
        if week < report.start_date:
            return dg.SkipReason(
                f"No week of {report.name} is offered yet (first week {report.start_date})."
            )
        return [
            dg.RunRequest(
                run_key=f"{report.name}:{key.path[1]}:{week.isoformat()}",
                partition_key=week.isoformat(),
                asset_selection=[key],
                tags=collection_run_tags(report),
            )
            for key in keys
        ]

    return weekly
