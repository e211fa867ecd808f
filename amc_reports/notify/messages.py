"""What a person is told: one `Alert` per event worth a message, rendered as a title and a body.

Four kinds: a week whose collection failed, a circuit breaker that stopped a backfill, a stale
report (its newest final week is not collected) and an ERROR check. Every message names the
report, the AMC instance, the week, both ids (`execution_id`, `amc_execution_id`) and links to
the Dagster run in the UI. Texts that come from elsewhere (AMC's reasons, check descriptions) are
redacted and cut before they go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from amc_reports.amc.redact import redact_and_cut

DEFAULT_UI_URL = "http://127.0.0.1:3000"
REASON_LIMIT = 1500


class AlertKind(StrEnum):
    WEEK_FAILED = "week_failed"
    CIRCUIT_BREAKER = "circuit_breaker"
    STALE_REPORT = "stale_report"
    CHECK_ERROR = "check_error"


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
        "Read the run's error. If AMC refused the query or its window, fix the report, then "
        "materialize the week again; a transient failure can simply be materialized again (an "
        "execution AMC is still running is resumed, not paid twice)."
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
    else:
        text = f"{where}: check {alert.check} failed (ERROR) for week {week}"
    return f"[amc_reports] {text}"


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id, safe='')}"


def asset_url(ui_url: str, asset_path: tuple[str, ...]) -> str:
    return f"{ui_url.rstrip('/')}/assets/" + "/".join(quote(p, safe="") for p in asset_path)


def render(alert: Alert, ui_url: str = DEFAULT_UI_URL) -> Message:
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
        f"What to do: {_ADVICE[alert.kind]}",
    ]
    return Message(title=title(alert), body="\n".join(lines), severity=alert.severity)
