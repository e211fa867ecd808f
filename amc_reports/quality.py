"""Data-quality rules for one collected week of a report on an instance, read from Postgres (no
Dagster). Each rule returns a `CheckOutcome`; the Dagster checks only wrap them.

The lineage and row-count rules are `warehouse.lineage`'s findings (the same as `amc-reports
verify`'s); the others are about the data: schema stability, emptiness, whether the week is final,
whether a re-collection of a final week stayed within the report's tolerance, freshness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amc_reports.config import InstanceConfig, ReportConfig
from amc_reports.warehouse import Warehouse, WeekKey, WeekRow
from amc_reports.warehouse.lineage import (
    ID_FINDINGS,
    ROW_FINDINGS,
    Finding,
    MaterializationIds,
    WeekFinding,
    week_findings,
)
from amc_reports.warehouse.restatement import largest_change, sums_pending
from amc_reports.warehouse.versions import describe_change, restatement_of
from amc_reports.weeks import WeekWindow


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _collected(warehouse: Warehouse, key: WeekKey) -> WeekRow | CheckOutcome:
    """The week's completed row, or the outcome saying it is not collected."""
    row = warehouse.get_week_by_key(key)
    if row is not None and row.is_completed:
        return row
    status = row.status if row else None
    return CheckOutcome(
        passed=False,
        description=(
            f"Week {key.week_start.isoformat()} of {key.report} on {key.instance} is not "
            f"collected (status: {status or 'no row'}). Materialize the week, then run the checks "
            "again."
        ),
        metadata={"week_status": str(status) if status else "missing"},
    )


def lineage(
    warehouse: Warehouse, key: WeekKey, materialization_ids: MaterializationIds | None
) -> CheckOutcome:
    """Week row, `workflow_executions` row and latest materialization name one execution."""
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
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


def row_counts(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    """The week's stored rows all come from its execution; there are `record_count` of them."""
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
    per_execution = warehouse.count_week_rows(key.report, key.week_start, key.instance)
    findings = [f for f in week_findings(row, None, per_execution) if f.kind in ROW_FINDINGS]
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
        warehouse.count_week_rows(row.report, row.week_start_date, row.amc_instance),
        materialization=materialization_ids,
        check_materialization=check_materialization,
    )


def schema_stable(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    """The week's columns and types equal those of the previous completed week."""
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
    current = row.result_columns or []
    previous_weeks = [
        w
        for w in warehouse.list_weeks(key.report, key.instance)
        if w.is_completed and w.week_start_date < key.week_start
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


def not_empty(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
    count = row.record_count or 0
    if count == 0:
        return CheckOutcome(
            False,
            "AMC returned no rows for this week: campaigns may have been paused, or every row was "
            "under AMC's privacy threshold.",
            {"record_count": 0},
        )
    return CheckOutcome(True, f"{count} rows.", {"record_count": count})


def week_final(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    """The week's stored numbers were collected after the week was final."""
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
    final_at = row.final_at.isoformat() if row.final_at else "unknown"
    metadata = {"provisional": row.provisional, "final_at": final_at}
    if row.provisional:
        return CheckOutcome(
            False,
            f"PROVISIONAL: collected before the week was final ({final_at}); AMC was still "
            "attributing conversions to it, so its numbers will move. It is collected again "
            "once it is final.",
            metadata,
        )
    return CheckOutcome(True, "Final: collected after the week was final.", metadata)


def restatement_within_tolerance(
    warehouse: Warehouse, key: WeekKey, tolerance: float
) -> CheckOutcome:
    """A re-collection of a week that was already final changed it by at most `tolerance`
    (relative change of each measure's sum; rows added or removed count through the measures;
    see `restatement.largest_change`)."""
    row = _collected(warehouse, key)
    if isinstance(row, CheckOutcome):
        return row
    version = warehouse.get_version(row.execution_id) if row.execution_id else None
    # Completed now (read only) if the load could not compare the versions after its commit.
    restatement = restatement_of(warehouse, version) if version is not None else None
    if not restatement:
        return CheckOutcome(True, "Collected once: nothing restated.", {"restated": False})
    if sums_pending(restatement):
        return CheckOutcome(
            False,
            "Re-collected, but not compared: the load could not compare the sums after it "
            "committed and the replaced version's rows are gone, so the restatement cannot be "
            "judged.",
            {"restated": True, "previous_execution_id": restatement.get("previous_execution_id")},
        )
    change = largest_change(restatement)
    metadata: dict[str, Any] = {
        "restated": True,
        "previous_execution_id": restatement.get("previous_execution_id", ""),
        "previous_provisional": bool(restatement.get("previous_provisional")),
        "largest_change_pct": round(100 * change, 3) if change != float("inf") else -1,
        "tolerance_pct": round(100 * tolerance, 3),
        "rows_before": restatement.get("rows_before"),
        "rows_after": restatement.get("rows_after"),
    }
    summary = describe_change(restatement)
    if restatement.get("previous_provisional"):
        return CheckOutcome(
            True,
            f"A provisional collection became final: {summary} (expected; not compared with the "
            "tolerance).",
            metadata,
        )
    if change <= tolerance:
        return CheckOutcome(
            True,
            f"Re-collected a final week within {100 * tolerance:g} %: {summary}.",
            metadata,
        )
    return CheckOutcome(
        False,
        f"A final week changed by more than {100 * tolerance:g} % when collected again: "
        f"{summary}. AMC restated its data; check what changed with `amc-reports history "
        f"{key.report} {key.week_start.isoformat()}`.",
        metadata,
    )


def freshness(
    warehouse: Warehouse,
    report: ReportConfig,
    instance: InstanceConfig | None = None,
    now: datetime | None = None,
) -> CheckOutcome:
    """The newest final week the report offers is collected (and final) on the instance."""
    instance = instance or report.instance
    now = now or datetime.now(UTC)
    week = report.newest_week(now, collects_provisional=False)
    window = WeekWindow(week, report.timezone)
    metadata: dict[str, Any] = {
        "newest_final_week": week.isoformat(),
        "final_since": window.final_at(report.lag_days).isoformat(),
    }
    if week < report.start_date:
        return CheckOutcome(True, "No week is final yet.", metadata)
    row = warehouse.get_week_by_key(WeekKey(report.name, instance.alias, week))
    if row is not None and row.is_completed and not row.provisional:
        return CheckOutcome(True, f"Week {week.isoformat()} is collected.", metadata)
    metadata["week_status"] = (
        "provisional"
        if row is not None and row.is_completed
        else str(row.status)
        if row
        else "missing"
    )
    return CheckOutcome(
        False,
        f"Week {week.isoformat()} has been final since {metadata['final_since']} but is "
        f"{metadata['week_status']}. Check the report's schedule and its latest run.",
        metadata,
    )
