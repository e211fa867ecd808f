"""Telling people (no Dagster): which finished runs deserve a message (`decide`), what the message
says (`messages`) and sending it through apprise (`send`)."""

from amc_reports.notify.decide import (
    AlertMemory,
    CheckEvaluation,
    FinishedRun,
    StepFailure,
    TargetIndex,
    WarehouseWeeks,
    WeekLookup,
    WeekState,
    alerts_for_run,
    backfill_digest,
)
from amc_reports.notify.messages import (
    DEFAULT_UI_URL,
    Alert,
    AlertKind,
    FailureGroup,
    Message,
    Severity,
    TargetRef,
    render,
)
from amc_reports.notify.send import Delivery, NotificationConfigError, Notifier, parse_targets

__all__ = [
    "DEFAULT_UI_URL",
    "Alert",
    "AlertKind",
    "AlertMemory",
    "CheckEvaluation",
    "Delivery",
    "FailureGroup",
    "FinishedRun",
    "Message",
    "NotificationConfigError",
    "Notifier",
    "Severity",
    "StepFailure",
    "TargetIndex",
    "TargetRef",
    "WarehouseWeeks",
    "WeekLookup",
    "WeekState",
    "alerts_for_run",
    "backfill_digest",
    "parse_targets",
    "render",
]
