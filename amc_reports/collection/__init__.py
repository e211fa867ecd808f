"""Collecting weeks: the single-week procedure (`WeekCollector`) and the weeks of one run
(`collect_weeks`). Written against the AMC client and the warehouse; nothing of Dagster."""

from amc_reports.collection.batch import BatchOutcome, RunInfo, RunInterrupted, collect_weeks
from amc_reports.collection.outcome import (
    CircuitBreakerOpen,
    CollectionError,
    ExecutionFailedError,
    LoadError,
    SubmissionError,
    WeekBusyError,
    WeekNotFinal,
    WeekOutcome,
    WeekSuperseded,
)
from amc_reports.collection.policies import (
    PollPolicy,
    RejectionPolicy,
    TransientRetryPolicy,
    max_run_seconds,
)
from amc_reports.collection.week import WeekCollector

__all__ = [
    "BatchOutcome",
    "CircuitBreakerOpen",
    "CollectionError",
    "ExecutionFailedError",
    "LoadError",
    "PollPolicy",
    "RejectionPolicy",
    "RunInfo",
    "RunInterrupted",
    "TransientRetryPolicy",
    "SubmissionError",
    "WeekBusyError",
    "WeekCollector",
    "WeekNotFinal",
    "WeekOutcome",
    "WeekSuperseded",
    "collect_weeks",
    "max_run_seconds",
]
