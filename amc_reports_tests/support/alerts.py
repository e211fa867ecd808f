"""A report target and an alert about it, for the notification tests."""

from __future__ import annotations

from amc_reports.notify import Alert, AlertKind, TargetRef

TARGET = TargetRef("weekly_perf", "us", "amc1abc", ("amc", "us", "weekly_perf"))


def sample_alert(kind: AlertKind = AlertKind.WEEK_FAILED, **changes: object) -> Alert:
    values: dict[str, object] = dict(
        kind=kind,
        target=TARGET,
        week="2026-03-08",
        execution_id="6f0c2c7e-0000-4000-8000-000000000001",
        amc_execution_id="amc-exec-42",
        reason="Column 'bogus' does not exist",
        run_id="run-123",
    )
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]
