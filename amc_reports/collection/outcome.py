"""What collecting a week produces: a `WeekOutcome`, or a `CollectionError` for a person to read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amc_reports.amc import ExecutionRecord
from amc_reports.warehouse import LoadResult
from amc_reports.weeks import WeekWindow


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
    """A week could not be collected. The message is for the person reading the run's failure."""

    def __init__(
        self,
        message: str,
        *,
        execution_id: uuid.UUID | None = None,
        amc_execution_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.amc_execution_id = amc_execution_id


class WeekBusyError(CollectionError):
    """Another live run holds the week; nothing was submitted."""

    def __init__(self, message: str, *, holder_run_id: str) -> None:
        super().__init__(message)
        self.holder_run_id = holder_run_id


class WeekNotFinal(CollectionError):
    """The week is not final yet and the report collects final weeks only: nothing submitted."""

    def __init__(self, message: str, *, final_at: datetime) -> None:
        super().__init__(message)
        self.final_at = final_at


class ExecutionFailedError(CollectionError):
    """AMC ended the execution FAILED, CANCELLED or (after every retry) REJECTED."""


class SubmissionError(CollectionError):
    """AMC did not accept the execution, or accepted it without an id we could track."""


class LoadError(CollectionError):
    """AMC succeeded but the result could not be downloaded or stored."""
