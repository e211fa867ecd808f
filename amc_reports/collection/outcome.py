"""What collecting a week produces: a `WeekOutcome`, or a `CollectionError` for a person to read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amc_reports.amc import ExecutionRecord
from amc_reports.amc.redact import cap_error_text
from amc_reports.warehouse import FailureKind, LoadResult
from amc_reports.weeks import WeekWindow

__all__ = [
    "CircuitBreakerOpen",
    "CollectionError",
    "ExecutionFailedError",
    "LoadError",
    "SubmissionError",
    "WeekBusyError",
    "WeekNotFinal",
    "WeekOutcome",
    "WeekSuperseded",
]


@dataclass(frozen=True)
class WeekOutcome:
    """What one successful collection produced; the source of the materialization metadata."""

    report: str
    window: WeekWindow
    execution_id: uuid.UUID
    amc_execution_id: str
    resumed: bool
    record: ExecutionRecord
    load: LoadResult
    submissions: int
    data_gaps: list[dict[str, Any]] = field(default_factory=list)
    instance: str = ""
    provisional: bool = False
    final_at: datetime | None = None
    # AMC created the execution without naming it (a create answered without an id, a
    # connection cut): it was found in AMC's list and adopted instead of being paid again.
    adopted: bool = False
    # Executions of this collection that AMC failed on its side or lost, submitted again.
    retried: int = 0

    @property
    def queue_seconds(self) -> float | None:
        if self.record.create_time and self.record.start_time:
            return (self.record.start_time - self.record.create_time).total_seconds()
        return None

    @property
    def run_seconds(self) -> float | None:
        if self.record.start_time and self.record.end_time:
            return (self.record.end_time - self.record.start_time).total_seconds()
        return None


class CollectionError(Exception):
    """A week could not be collected. The message is for the person reading the run's failure;
    `kind` says what kind of failure it is (for alerts: `amc_reports/failure_kind`)."""

    default_kind: FailureKind = FailureKind.INTERRUPTED

    def __init__(
        self,
        message: str,
        *,
        execution_id: uuid.UUID | None = None,
        amc_execution_id: str | None = None,
        kind: FailureKind | None = None,
        tripped_breaker: bool = False,
    ) -> None:
        super().__init__(cap_error_text(message))
        self.execution_id = execution_id
        self.amc_execution_id = amc_execution_id
        self.kind = kind or self.default_kind
        # This failure was the one that tripped its backfill's circuit breaker.
        self.tripped_breaker = tripped_breaker


class WeekBusyError(CollectionError):
    """Another live run holds the week; nothing was submitted."""

    default_kind = FailureKind.BUSY

    def __init__(self, message: str, *, holder_run_id: str) -> None:
        super().__init__(message)
        self.holder_run_id = holder_run_id


class WeekNotFinal(CollectionError):
    """The week is not final yet and the report collects final weeks only: nothing submitted."""

    def __init__(self, message: str, *, final_at: datetime) -> None:
        super().__init__(message)
        self.final_at = final_at


class ExecutionFailedError(CollectionError):
    """AMC ended the execution FAILED, CANCELLED or (after every retry) REJECTED, lost it, or
    ran it past its own timeout."""


class SubmissionError(CollectionError):
    """AMC did not accept the execution, or accepted it without an id we could track."""


class LoadError(CollectionError):
    """AMC succeeded but the result could not be downloaded or stored."""

    default_kind = FailureKind.LOAD


class CircuitBreakerOpen(CollectionError):
    """The backfill's circuit breaker for the report is open: nothing was submitted."""

    default_kind = FailureKind.CIRCUIT_BREAKER


class WeekSuperseded(CollectionError):
    """Another run took the week over while this one worked on it: this run stored nothing."""

    default_kind = FailureKind.SUPERSEDED
