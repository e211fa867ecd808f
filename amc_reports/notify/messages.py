"""What a person is told: one `Alert` per event worth a message, rendered as a title and a body.

Five kinds: a week whose collection failed, a circuit breaker that stopped a backfill, the
failures of a finished backfill grouped by failure kind (one message per backfill), a stale
report (its newest final week is not collected) and an ERROR check. The advice for a failed week
is the one its failure kind gets everywhere (`collection.next_step.what_to_do`).

Every message names the report, the AMC instance, the week, both ids (`execution_id`,
`amc_execution_id`) and links to the Dagster run in the UI (a digest: to the backfill).
Texts that come from elsewhere (AMC's reasons, check descriptions) are redacted and cut
before they go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from amc_reports.amc.redact import redact_and_cut
from amc_reports.collection.next_step import what_to_do
from amc_reports.warehouse.rows import FailureKind

DEFAULT_UI_URL = "http://127.0.0.1:3000"
REASON_LIMIT = 1500
FIRST_WEEKS = 3


class AlertKind(StrEnum):
    WEEK_FAILED = "week_failed"
    CIRCUIT_BREAKER = "circuit_breaker"
    STALE_REPORT = "stale_report"
    CHECK_ERROR = "check_error"
    BACKFILL_FAILED = "backfill_failed"


class Severity(StrEnum):
    FAILURE = "failure"
    WARNING = "warning"


@dataclass(frozen=True)
class TargetRef:
    """A report on one AMC instance, as messages name it (`asset_path` is its Dagster asset)."""

    report: str
    instance: str
    instance_id: str
    asset_path: tuple[str, ...]


@dataclass(frozen=True)
class FailureGroup:
    """The weeks of a backfill that failed with one failure kind, and the first one's reason."""

    kind: str
    weeks: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    target: TargetRef
    week: str | None
    execution_id: str | None
    amc_execution_id: str | None
    reason: str
    run_id: str | None
    check: str | None = None
    # Alerts with the same key are sent once (a tripped breaker, a stale week, a check's result
    # on one collected version of a week).
    dedupe_key: str | None = None
    failure_kind: str | None = None
    # A backfill's digest: its id, its failures by kind and the reports on instances they hit.
    backfill_id: str | None = None
    groups: tuple[FailureGroup, ...] = ()
    targets: tuple[str, ...] = ()

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.kind is AlertKind.STALE_REPORT else Severity.FAILURE


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    severity: Severity


_ADVICE = {
    AlertKind.WEEK_FAILED: (
        "Read the run's error, act on its failure kind, then materialize the week again."
    ),
    AlertKind.BACKFILL_FAILED: (
        "Act on each failure kind above, then launch the failed weeks again "
        "(Materialize -> missing and failed partitions)."
    ),
    AlertKind.CIRCUIT_BREAKER: (
        "The report's query failed on consecutive weeks, so the rest of the backfill failed at "
        "once without submitting anything to AMC. Fix the query, then launch the failed weeks "
        "again (Materialize -> missing and failed partitions)."
    ),
    AlertKind.STALE_REPORT: (
        "Check the report's schedule and its latest run, then materialize the week to catch up."
    ),
    AlertKind.CHECK_ERROR: (
        "The week's stored rows do not match what its collection recorded. Read the check in the "
        "UI, then materialize the week again to repair it; `amc-reports verify` checks every week."
    ),
}


def title(alert: Alert) -> str:
    where = f"{alert.target.report} on {alert.target.instance}"
    week = alert.week or "(no week)"
    if alert.kind is AlertKind.WEEK_FAILED:
        text = f"{where}: week {week} failed"
    elif alert.kind is AlertKind.CIRCUIT_BREAKER:
        text = f"{where}: circuit breaker tripped, the rest of the backfill was not submitted"
    elif alert.kind is AlertKind.STALE_REPORT:
        text = f"{where} is stale: its newest final week {week} is not collected"
    elif alert.kind is AlertKind.BACKFILL_FAILED:
        count = sum(len(group.weeks) for group in alert.groups)
        text = (
            f"backfill {alert.backfill_id}: {count} week(s) failed "
            f"({', '.join(alert.targets) or where})"
        )
    else:
        text = f"{where}: check {alert.check} failed (ERROR) for week {week}"
    return f"[amc_reports] {text}"


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id, safe='')}"


def asset_url(ui_url: str, asset_path: tuple[str, ...]) -> str:
    return f"{ui_url.rstrip('/')}/assets/" + "/".join(quote(p, safe="") for p in asset_path)


def backfill_url(ui_url: str, backfill_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/b/{quote(backfill_id, safe='')}"


def advice(alert: Alert) -> str:
    """What to do: for a failed week, what its failure kind calls for."""
    if alert.kind is AlertKind.WEEK_FAILED and alert.failure_kind in set(FailureKind):
        return what_to_do(FailureKind(alert.failure_kind))
    return _ADVICE[alert.kind]


def render(alert: Alert, ui_url: str = DEFAULT_UI_URL) -> Message:
    if alert.kind is AlertKind.BACKFILL_FAILED:
        return _render_digest(alert, ui_url)
    target = alert.target
    lines = [
        f"Report: {target.report}",
        f"AMC instance: {target.instance} ({target.instance_id})",
        f"Week: {alert.week or 'unknown'}",
    ]
    if alert.check:
        lines.append(f"Check: {alert.check}")
    lines += [
        f"execution_id: {alert.execution_id or 'none'}",
        f"amc_execution_id: {alert.amc_execution_id or 'none'}",
        f"What happened: {redact_and_cut(alert.reason.strip() or 'no reason given', REASON_LIMIT)}",
        f"Run: {run_url(ui_url, alert.run_id) if alert.run_id else 'none'}",
        f"Asset: {asset_url(ui_url, target.asset_path)}",
        f"What to do: {advice(alert)}",
    ]
    return Message(title=title(alert), body="\n".join(lines), severity=alert.severity)


def _render_digest(alert: Alert, ui_url: str) -> Message:
    lines = [f"Backfill: {backfill_url(ui_url, alert.backfill_id or '')}"]
    for group in alert.groups:
        more = ", ..." if len(group.weeks) > FIRST_WEEKS else ""
        weeks = ", ".join(group.weeks[:FIRST_WEEKS]) + more
        reason = redact_and_cut(group.reason.strip() or "no reason given", REASON_LIMIT)
        kind = FailureKind(group.kind) if group.kind in set(FailureKind) else None
        lines += [
            "",
            f"{group.kind}: {len(group.weeks)} week(s), first {weeks}",
            f"  e.g. {reason}",
            f"  What to do: {what_to_do(kind) if kind else 'read the runs of these weeks.'}",
        ]
    lines += ["", f"What to do: {_ADVICE[AlertKind.BACKFILL_FAILED]}"]
    return Message(title=title(alert), body="\n".join(lines), severity=alert.severity)
