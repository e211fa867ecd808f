"""`amc-reports status`: where every report stands on every instance (read-only): weeks completed
(final and provisional), failed by failure kind, running, and the final weeks not collected yet,
from `report_data_weeks` and the config's weeks. An agency's overview of failed weeks."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from amc_reports.commands import add_command
from amc_reports.config import ReportConfig
from amc_reports.warehouse.rows import WeekRow, WeekStatus
from amc_reports.weeks import week_start_of

MISSING_SHOWN = 5


def register(subparsers: Any) -> None:
    add_command(
        subparsers,
        "status",
        run_status,
        "per report and instance: weeks completed, provisional, failed (by kind), missing",
        description=(
            "Read-only. For each report on each instance: completed weeks (final and "
            "provisional), failed weeks by failure kind, weeks running, and the final weeks (from "
            "the report's start date to its newest final week) not collected as final. Exit 0 "
            "when nothing failed or is missing, 1 otherwise, 2 when the config or database fail."
        ),
        one_report=True,
        json_output=True,
    )


@dataclass
class TargetStatus:
    asset: str
    final: int = 0
    provisional: int = 0
    running: int = 0
    failed_by_kind: dict[str, int] = field(default_factory=dict)
    final_weeks: int = 0
    missing_final_weeks: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.failed_by_kind.values())

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing_final_weeks


def final_weeks(report: ReportConfig, now: datetime) -> list[date]:
    """The report's weeks that are final at `now`, from its first week (its partitions)."""
    first = week_start_of(report.start_date + timedelta(days=6), report.week_start_weekday)
    newest = report.newest_week(now, collects_provisional=False)
    count = (newest - first).days // 7 + 1
    return [first + timedelta(days=7 * i) for i in range(max(count, 0))]


def target_status(asset: str, weeks: list[date], rows: list[WeekRow]) -> TargetStatus:
    """Where one report on one instance stands, from its week rows and its final weeks."""
    status = TargetStatus(asset, final_weeks=len(weeks))
    kinds: Counter[str] = Counter()
    collected_final = set()
    for row in rows:
        if row.status is WeekStatus.COMPLETED:
            if row.provisional:
                status.provisional += 1
            else:
                status.final += 1
                collected_final.add(row.week_start_date)
        elif row.status is WeekStatus.FAILED:
            kinds[str(row.failure_kind) if row.failure_kind else "unknown"] += 1
        elif row.status in (WeekStatus.RUNNING, WeekStatus.PENDING):
            status.running += 1
    status.failed_by_kind = dict(kinds.most_common())
    status.missing_final_weeks = [w.isoformat() for w in weeks if w not in collected_final]
    return status


def render(status: TargetStatus) -> str:
    failed = (
        f"{status.failed} failed ("
        + ", ".join(f"{kind} {n}" for kind, n in status.failed_by_kind.items())
        + ")"
        if status.failed
        else "0 failed"
    )
    missing = status.missing_final_weeks
    shown = ", ".join(missing[:MISSING_SHOWN]) + (", ..." if len(missing) > MISSING_SHOWN else "")
    return (
        f"{status.asset}: {status.final + status.provisional} completed ({status.final} final, "
        f"{status.provisional} provisional), {failed}, {status.running} running; final weeks "
        f"missing: {len(missing)} of {status.final_weeks}" + (f" ({shown})" if missing else "")
    )


def run_status(args: argparse.Namespace) -> int:
    from amc_reports.commands import load_config_or_explain, unknown_report
    from amc_reports.commands.warehouse import _fail, _warehouse_resource
    from amc_reports.warehouse.connection import DatabaseConfigError

    config = load_config_or_explain(None)
    if config is None:
        return 2
    if args.report and args.report not in config.reports:
        print(f"error: {unknown_report(config, args.report)}", file=sys.stderr)
        return 2
    try:
        warehouse = _warehouse_resource().get_warehouse()
        now = datetime.now(UTC)
        statuses = [
            target_status(
                f"amc/{instance.alias}/{report.name}",
                final_weeks(report, now),
                warehouse.list_weeks(report.name, instance.alias),
            )
            for report, instance in config.targets()
            if not args.report or report.name == args.report
        ]
    except DatabaseConfigError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps([{**asdict(s), "failed": s.failed} for s in statuses], indent=2))
    else:
        for status in statuses:
            print(render(status))
    return 0 if all(s.ok for s in statuses) else 1
