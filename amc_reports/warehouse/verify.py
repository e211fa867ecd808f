"""Lineage verification: is every completed week fully traced to the AMC execution that produced it?

A completed week is fully traced when its row has an `execution_id` and an `amc_execution_id`, the
execution_id resolves to a `workflow_executions` row that names the same AMC execution, report and
week, every result row stored for the week carries that execution_id, and there are `record_count`
of them. Result rows of weeks without a `report_data_weeks` row are untraced too. Anything else
found (rows of an earlier execution kept after a failed re-collection, a completed week whose
execution is not SUCCEEDED) is reported as a note, not a failure.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from psycopg import sql

from amc_reports.warehouse.store import WEEK_STATUSES, Warehouse

SAMPLE_ROWS = 3
MAX_LISTED = 10


@dataclass
class ReportVerification:
    report: str
    results_table: str
    weeks_by_status: dict[str, int]
    completed_weeks: int = 0
    with_execution_id: int = 0
    with_amc_execution_id: int = 0
    unresolved_execution_ids: int = 0
    id_mismatches: int = 0
    foreign_rows: int = 0
    orphan_rows: int = 0
    record_count_mismatches: int = 0
    result_rows: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sample_week: str | None = None
    sample_rows: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def execution_id_pct(self) -> float:
        return _pct(self.with_execution_id, self.completed_weeks)

    @property
    def amc_execution_id_pct(self) -> float:
        return _pct(self.with_amc_execution_id, self.completed_weeks)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["execution_id_pct"] = self.execution_id_pct
        data["amc_execution_id_pct"] = self.amc_execution_id_pct
        data["ok"] = self.ok
        return data


@dataclass
class VerifyReport:
    reports: list[ReportVerification]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "reports": [r.to_dict() for r in self.reports],
        }


def _pct(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else round(100.0 * part / whole, 2)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def verify(warehouse: Warehouse, report: str | None = None) -> VerifyReport:
    """Check lineage of every report (or one) and return the findings."""
    weeks = warehouse.list_weeks(report)
    names = sorted({w.report for w in weeks})
    outcome = VerifyReport(reports=[])
    if report is not None and not names:
        outcome.problems.append(f"no weeks recorded for report {report!r}")
        return outcome
    executions = _executions_by_id(warehouse, [w.execution_id for w in weeks if w.execution_id])
    for name in names:
        outcome.reports.append(
            _verify_report(warehouse, name, [w for w in weeks if w.report == name], executions)
        )
    return outcome


def _executions_by_id(
    warehouse: Warehouse, ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, date, str | None, str]]:
    if not ids:
        return {}
    with warehouse.connect() as conn:
        rows = conn.execute(
            "SELECT id, report, week_start_date, amc_execution_id, status"
            " FROM workflow_executions WHERE id = ANY(%s)",
            (list(set(ids)),),
        ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def _verify_report(
    warehouse: Warehouse,
    report: str,
    weeks: list[Any],
    executions: dict[uuid.UUID, tuple[str, date, str | None, str]],
) -> ReportVerification:
    by_status = dict.fromkeys(WEEK_STATUSES, 0)
    for week in weeks:
        by_status[week.status] = by_status.get(week.status, 0) + 1
    result = ReportVerification(
        report=report,
        results_table=warehouse.results_table(report),
        weeks_by_status=by_status,
    )
    completed = [w for w in weeks if w.status == "completed"]
    result.completed_weeks = len(completed)
    missing_exec, missing_amc, unresolved, mismatched, not_succeeded = [], [], [], [], []
    for week in completed:
        label = week.week_start_date.isoformat()
        if week.execution_id is None:
            missing_exec.append(label)
        else:
            result.with_execution_id += 1
        if week.amc_execution_id:
            result.with_amc_execution_id += 1
        else:
            missing_amc.append(label)
        if week.execution_id is None:
            continue
        execution = executions.get(week.execution_id)
        if execution is None:
            unresolved.append(f"{label} ({week.execution_id})")
            continue
        exec_report, exec_week, exec_amc, exec_status = execution
        disagreements = []
        if exec_amc != week.amc_execution_id:
            disagreements.append(f"amc_execution_id {week.amc_execution_id} vs {exec_amc}")
        if exec_report != week.report or exec_week != week.week_start_date:
            disagreements.append(f"execution is for {exec_report!r} week {exec_week}")
        if disagreements:
            mismatched.append(f"{label} ({'; '.join(disagreements)})")
        if exec_status != "SUCCEEDED":
            not_succeeded.append(f"{label} ({exec_status})")
    result.unresolved_execution_ids = len(unresolved)
    result.id_mismatches = len(mismatched)
    if missing_exec:
        result.problems.append(f"completed weeks without execution_id: {_listed(missing_exec)}")
    if missing_amc:
        result.problems.append(f"completed weeks without amc_execution_id: {_listed(missing_amc)}")
    if unresolved:
        result.problems.append(
            f"execution_id not found in workflow_executions: {_listed(unresolved)}"
        )
    if mismatched:
        result.problems.append(f"week row and workflow_executions disagree: {_listed(mismatched)}")
    if not_succeeded:
        result.notes.append(
            f"completed weeks whose execution is not SUCCEEDED: {_listed(not_succeeded)}"
        )
    _check_result_rows(warehouse, report, weeks, result)
    return result


def _check_result_rows(
    warehouse: Warehouse, report: str, weeks: list[Any], result: ReportVerification
) -> None:
    table = sql.SQL(warehouse.results_table(report))
    if not warehouse.table_columns(report):
        if any(w.status == "completed" and (w.record_count or 0) > 0 for w in weeks):
            result.problems.append(f"results table {result.results_table} does not exist")
        return
    with warehouse.connect() as conn:
        counts = conn.execute(
            sql.SQL(
                "SELECT week_start_date, execution_id, count(*) FROM {} GROUP BY 1, 2 ORDER BY 1"
            ).format(table)
        ).fetchall()
    by_week = {w.week_start_date: w for w in weeks}
    own: dict[date, int] = {}
    foreign, orphan, stale = [], [], []
    for week_start, execution_id, count in counts:
        result.result_rows += count
        week = by_week.get(week_start)
        label = week_start.isoformat()
        if week is None:
            result.orphan_rows += count
            orphan.append(f"{label} ({count} rows)")
        elif execution_id == week.execution_id:
            own[week_start] = own.get(week_start, 0) + count
        elif week.status == "completed":
            result.foreign_rows += count
            foreign.append(f"{label} ({count} rows of execution {execution_id})")
        else:
            stale.append(f"{label} ({week.status}; {count} rows of execution {execution_id})")
    mismatched_counts = [
        f"{w.week_start_date} (record_count {w.record_count}, "
        f"stored {own.get(w.week_start_date, 0)})"
        for w in weeks
        if w.status == "completed" and (w.record_count or 0) != own.get(w.week_start_date, 0)
    ]
    result.record_count_mismatches = len(mismatched_counts)
    if foreign:
        result.problems.append(
            f"result rows whose execution_id differs from their week's: {_listed(foreign)}"
        )
    if orphan:
        result.problems.append(f"result rows of weeks with no week row: {_listed(orphan)}")
    if mismatched_counts:
        result.problems.append(
            f"stored rows differ from record_count: {_listed(mismatched_counts)}"
        )
    if stale:
        result.notes.append(
            f"rows of an earlier execution kept in weeks not completed: {_listed(stale)}"
        )
    completed = [w for w in weeks if w.status == "completed" and w.execution_id]
    if not completed:
        return
    latest = max(completed, key=lambda w: w.week_start_date)
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {} WHERE week_start_date = %s LIMIT %s").format(table),
            (latest.week_start_date, SAMPLE_ROWS),
        )
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    result.sample_week = latest.week_start_date.isoformat()
    result.sample_rows = [
        {
            name: None if value is None else str(value)
            for name, value in zip(names, row, strict=True)
        }
        for row in rows
    ]
