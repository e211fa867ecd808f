"""Data-quality rules for one collected week, read from Postgres (no Dagster).

Each rule returns a `CheckOutcome`; the Dagster checks only wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from amc_reports.config import ReportConfig
from amc_reports.warehouse import Warehouse, WeekRow
from amc_reports.warehouse.lineage import (
    ID_FINDINGS,
    ROW_FINDINGS,
    Finding,
    MaterializationIds,
    WeekFinding,
    week_findings,
)
from amc_reports.weeks import WeekWindow, newest_final_week


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _not_collected(report: str, week: date, status: str | None) -> CheckOutcome:
    return CheckOutcome(
        passed=False,
        description=(
            f"Week {week.isoformat()} of {report} is not collected (status: {status or 'no row'}). "
            "Materialize the week, then run the checks again."
        ),
        metadata={"week_status": str(status) if status else "missing"},
    )


def lineage(
    warehouse: Warehouse,
    report: str,
    week: date,
    materialization_ids: MaterializationIds | None,
) -> CheckOutcome:
    """Week row, `workflow_executions` row and latest materialization name one execution."""
    row = warehouse.get_week(report, week)
    if row is None or not row.is_completed:
        return _not_collected(report, week, row.status if row else None)
    metadata = {
        "execution_id": str(row.execution_id) if row.execution_id else "",
        "amc_execution_id": row.amc_execution_id or "",
    }
    problems = [
        f.detail
        for f in _findings(warehouse, row, materialization_ids, check_materialization=True)
        if f.kind in ID_FINDINGS
    ]
    if problems:
        return CheckOutcome(
            False,
            "Lineage broken: " + "; ".join(problems) + ". Re-materialize the week to repair it.",
            metadata,
        )
    return CheckOutcome(
        True,
        f"Week row, workflow_executions and materialization agree on execution "
        f"{row.execution_id} (AMC {row.amc_execution_id}).",
        metadata,
    )


def row_counts(warehouse: Warehouse, report: str, week: date) -> CheckOutcome:
    """The week's stored rows all come from its execution; there are `record_count` of them."""
    row = warehouse.get_week(report, week)
    if row is None or not row.is_completed:
        return _not_collected(report, week, row.status if row else None)
    findings = [f for f in _findings(warehouse, row, None) if f.kind in ROW_FINDINGS]
    per_execution = warehouse.count_week_rows(report, week)
    own = per_execution.get(row.execution_id, 0) if row.execution_id else 0
    metadata: dict[str, Any] = {
        "record_count": row.record_count or 0,
        "rows_stored": own,
        "rows_of_other_executions": sum(f.rows for f in findings if f.kind is Finding.FOREIGN_ROWS),
    }
    if findings:
        return CheckOutcome(
            False,
            "Row counts inconsistent: " + "; ".join(f.detail for f in findings) + ".",
            metadata,
        )
    return CheckOutcome(
        True, f"{own} rows stored, all from execution {row.execution_id}.", metadata
    )


def _findings(
    warehouse: Warehouse,
    row: WeekRow,
    materialization_ids: MaterializationIds | None,
    *,
    check_materialization: bool = False,
) -> list[WeekFinding]:
    execution = warehouse.get_execution(row.execution_id) if row.execution_id else None
    return week_findings(
        row,
        execution,
        warehouse.count_week_rows(row.report, row.week_start_date),
        materialization=materialization_ids,
        check_materialization=check_materialization,
    )


def schema_stable(warehouse: Warehouse, report: str, week: date) -> CheckOutcome:
    """The week's columns and types equal those of the previous completed week."""
    row = warehouse.get_week(report, week)
    if row is None or not row.is_completed:
        return _not_collected(report, week, row.status if row else None)
    current = row.result_columns or []
    previous_weeks = [
        w for w in warehouse.list_weeks(report) if w.is_completed and w.week_start_date < week
    ]
    if not previous_weeks:
        return CheckOutcome(True, "First completed week: nothing to compare with.", {})
    previous = max(previous_weeks, key=lambda w: w.week_start_date)
    before = previous.result_columns or []
    if before == current:
        return CheckOutcome(
            True,
            f"Same {len(current)} columns as week {previous.week_start_date.isoformat()}.",
            {"compared_with": previous.week_start_date.isoformat()},
        )
    old, new = dict(before), dict(current)
    changes = [f"added {c} ({new[c]})" for c in new if c not in old]
    changes += [f"missing {c}" for c in old if c not in new]
    changes += [f"{c}: {old[c]} -> {new[c]}" for c in new if c in old and old[c] != new[c]]
    if not changes:
        changes = ["column order changed"]
    return CheckOutcome(
        False,
        f"Schema changed since week {previous.week_start_date.isoformat()}: "
        + ", ".join(changes)
        + ". Check the report's SQL if this was not intended.",
        {"compared_with": previous.week_start_date.isoformat(), "changes": ", ".join(changes)},
    )


def not_empty(warehouse: Warehouse, report: str, week: date) -> CheckOutcome:
    row = warehouse.get_week(report, week)
    if row is None or not row.is_completed:
        return _not_collected(report, week, row.status if row else None)
    count = row.record_count or 0
    if count == 0:
        return CheckOutcome(
            False,
            "AMC returned no rows for this week: campaigns may have been paused, or every row was "
            "under AMC's privacy threshold.",
            {"record_count": 0},
        )
    return CheckOutcome(True, f"{count} rows.", {"record_count": count})


def freshness(
    warehouse: Warehouse, report: ReportConfig, now: datetime | None = None
) -> CheckOutcome:
    """The newest final week (its end plus the lag has passed) is collected."""
    now = now or datetime.now(UTC)
    week = newest_final_week(
        now,
        week_start_weekday=report.week_start_weekday,
        time_zone=report.timezone,
        lag_days=report.lag_days,
    )
    window = WeekWindow(week, report.timezone)
    metadata: dict[str, Any] = {
        "newest_final_week": week.isoformat(),
        "final_since": window.final_at(report.lag_days).isoformat(),
    }
    if week < report.start_date:
        return CheckOutcome(True, "No week is final yet.", metadata)
    row = warehouse.get_week(report.name, week)
    if row is not None and row.is_completed:
        return CheckOutcome(True, f"Week {week.isoformat()} is collected.", metadata)
    metadata["week_status"] = str(row.status) if row else "missing"
    return CheckOutcome(
        False,
        f"Week {week.isoformat()} has been final since {metadata['final_since']} but is "
        f"{metadata['week_status']}. Check the report's schedule and its latest run.",
        metadata,
    )
