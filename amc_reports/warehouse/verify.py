"""`amc-reports verify`: is every completed week fully traced to the AMC execution that produced it?

The rules are `lineage.week_findings` (the same as the asset checks'); this module fetches the facts
of every week of a report at once and summarises the findings. Result rows of weeks without a
`report_data_weeks` row are untraced too. Provisional weeks (collected before they were final) are
counted apart from final ones and never sampled as final data. The history is verified too: every
replaced version kept in the history schema holds exactly its `row_count` rows, all of its own
execution, which exists and SUCCEEDED. The completed weeks of one instance come from one AMC (live
or the sandbox, `amc_source`): mixed sources are a problem, weeks of an unknown source a note.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from amc_reports.warehouse.lineage import Finding, WeekFinding, week_findings
from amc_reports.warehouse.rows import ExecutionState, VersionState, WeekRow, WeekStatus
from amc_reports.warehouse.store import Warehouse

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
    final_weeks: int = 0
    provisional_weeks: int = 0
    history_versions: int = 0
    history_rows: int = 0
    # Completed weeks by the AMC they came from ("live", "sandbox", "unknown").
    amc_sources: dict[str, int] = field(default_factory=dict)
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
    # What the warehouse holds that the current config no longer has (`warehouse.drift`).
    not_in_config: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "reports": [r.to_dict() for r in self.reports],
            "not_in_config": list(self.not_in_config),
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
    executions = warehouse.get_executions(w.execution_id for w in weeks if w.execution_id)
    for name in names:
        own = [w for w in weeks if w.report == name]
        outcome.reports.append(_verify_report(warehouse, name, own, executions))
    return outcome


# Problem lines of the report, in this order: finding -> label.
_PROBLEM_LABELS = {
    Finding.NO_EXECUTION_ID: "completed weeks without execution_id",
    Finding.NO_AMC_EXECUTION_ID: "completed weeks without amc_execution_id",
    Finding.EXECUTION_NOT_FOUND: "execution_id not found in workflow_executions",
    Finding.IDS_DISAGREE: "week row and workflow_executions disagree",
    Finding.EXECUTION_NOT_SUCCEEDED: "completed weeks whose execution is not SUCCEEDED",
    Finding.FOREIGN_ROWS: "result rows whose execution_id differs from their week's",
    Finding.COUNT_MISMATCH: "stored rows differ from record_count",
}
_NOTE_LABELS = {Finding.STALE_ROWS: "rows of an earlier execution kept in weeks not completed"}


def _verify_report(
    warehouse: Warehouse, report: str, weeks: list[WeekRow], executions: dict[Any, Any]
) -> ReportVerification:
    by_status = {status.value: 0 for status in WeekStatus}
    for week in weeks:
        by_status[week.status.value] += 1
    result = ReportVerification(
        report=report,
        results_table=warehouse.results_table(report),
        weeks_by_status=by_status,
    )
    counts = warehouse.count_rows(report)
    table_exists = bool(warehouse.table_columns(report))
    known_weeks = {(w.amc_instance, w.week_start_date) for w in weeks}
    findings: list[WeekFinding] = []
    for week in weeks:
        execution = executions.get(week.execution_id) if week.execution_id else None
        rows = counts.get((week.amc_instance, week.week_start_date), {})
        findings += week_findings(week, execution, rows)
    completed = [w for w in weeks if w.is_completed]
    result.completed_weeks = len(completed)
    result.provisional_weeks = sum(1 for w in completed if w.provisional)
    result.final_weeks = result.completed_weeks - result.provisional_weeks
    result.with_execution_id = sum(1 for w in completed if w.execution_id is not None)
    result.with_amc_execution_id = sum(1 for w in completed if w.amc_execution_id)
    result.result_rows = sum(n for per_week in counts.values() for n in per_week.values())

    by_kind: dict[Finding, list[WeekFinding]] = defaultdict(list)
    for finding in findings:
        by_kind[finding.kind].append(finding)
    result.unresolved_execution_ids = len(by_kind[Finding.EXECUTION_NOT_FOUND])
    result.id_mismatches = len(by_kind[Finding.IDS_DISAGREE])
    result.foreign_rows = sum(f.rows for f in by_kind[Finding.FOREIGN_ROWS])
    result.record_count_mismatches = len(by_kind[Finding.COUNT_MISMATCH])

    if not table_exists and any((w.record_count or 0) > 0 for w in completed):
        result.problems.append(f"results table {result.results_table} does not exist")
    for kind, label in _PROBLEM_LABELS.items():
        if by_kind[kind]:
            result.problems.append(f"{label}: {_listed(_labels(by_kind[kind]))}")
    orphan = {key: per for key, per in counts.items() if key not in known_weeks}
    result.orphan_rows = sum(sum(per.values()) for per in orphan.values())
    if orphan:
        listed = [
            f"{week.isoformat()} on {instance} ({sum(per.values())} rows)"
            for (instance, week), per in sorted(orphan.items())
        ]
        result.problems.append(f"result rows of weeks with no week row: {_listed(listed)}")
    for kind, label in _NOTE_LABELS.items():
        if by_kind[kind]:
            result.notes.append(f"{label}: {_listed(_labels(by_kind[kind]))}")
    if result.provisional_weeks:
        listed = [f"{w.week_start_date} on {w.amc_instance}" for w in completed if w.provisional]
        result.notes.append(
            "provisional weeks (collected before they were final; their numbers will move): "
            + _listed(listed)
        )
    _verify_sources(completed, result)
    _verify_history(warehouse, report, result)

    final = [w for w in completed if not w.provisional]
    if final:
        latest = max(final, key=lambda w: (w.week_start_date, w.amc_instance))
        names, rows = warehouse.sample_rows(
            report, latest.week_start_date, SAMPLE_ROWS, latest.amc_instance
        )
        if names:
            result.sample_week = latest.week_start_date.isoformat()
            result.sample_rows = [
                {
                    name: None if value is None else str(value)
                    for name, value in zip(names, row, strict=True)
                }
                for row in rows
            ]
    return result


def _verify_sources(completed: list[WeekRow], result: ReportVerification) -> None:
    """Count completed weeks by AMC source; an instance holding live and sandbox weeks is a
    problem (the warehouse refuses to store such a mix since sources are recorded)."""
    by_instance: dict[str, dict[str, list[WeekRow]]] = defaultdict(lambda: defaultdict(list))
    for week in completed:
        source = week.amc_source or "unknown"
        result.amc_sources[source] = result.amc_sources.get(source, 0) + 1
        by_instance[week.amc_instance][source].append(week)
    for instance, sources in sorted(by_instance.items()):
        if "live" in sources and "sandbox" in sources:
            parts = [
                f"{len(sources[s])} {s} week(s) from {_hosts(sources[s])}"
                for s in ("live", "sandbox")
            ]
            result.problems.append(f"mixed AMC sources on {instance}: {', '.join(parts)}")
    unknown = sorted(i for i, sources in by_instance.items() if "unknown" in sources)
    if unknown:
        result.notes.append(
            "weeks collected before AMC sources were recorded (source unknown) on "
            + _listed(unknown)
        )


def _hosts(weeks: list[WeekRow]) -> str:
    return ", ".join(sorted({w.amc_api_host or "an unrecorded host" for w in weeks}))


def _verify_history(warehouse: Warehouse, report: str, result: ReportVerification) -> None:
    """Every version kept in history holds its row_count rows of its own, SUCCEEDED execution."""
    history = [v for v in warehouse.list_versions(report) if v.state is VersionState.HISTORY]
    result.history_versions = len(history)
    executions = warehouse.get_executions(v.execution_id for v in history)
    problems: list[str] = []
    for version in history:
        label = (
            f"{version.week_start_date} on {version.amc_instance} "
            f"(execution {version.execution_id}, {version.table_schema}.{version.table_name})"
        )
        stored = warehouse.count_version_rows(version)
        execution = executions.get(version.execution_id)
        if stored is None:
            problems.append(f"{label}: its table is missing")
            continue
        result.history_rows += sum(stored.values())
        if set(stored) - {version.execution_id}:
            problems.append(f"{label}: holds rows of other executions")
        if stored.get(version.execution_id, 0) != version.row_count:
            problems.append(
                f"{label}: {stored.get(version.execution_id, 0)} rows, row_count says "
                f"{version.row_count}"
            )
        if execution is None or execution.status is not ExecutionState.SUCCEEDED:
            problems.append(f"{label}: its execution is not a SUCCEEDED workflow_executions row")
    if problems:
        result.problems.append(f"history versions not traced: {_listed(problems)}")


def _labels(findings: list[WeekFinding]) -> list[str]:
    return [f"{f.week.isoformat()} on {f.instance} ({f.detail})" for f in findings]
