"""Collecting weeks: the single-week procedure (`WeekCollector`) and the weeks of one run
(`collect_weeks`). Written against the AMC client and the warehouse; nothing of Dagster."""

from amc_reports.collection.batch import BatchOutcome, RunInfo, RunInterrupted, collect_weeks
from amc_reports.collection.outcome import (
    CollectionError,
    ExecutionFailedError,
    LoadError,
    SubmissionError,
    WeekBusyError,
    WeekNotFinal,
    WeekOutcome,
)
from amc_reports.collection.policies import PollPolicy, RejectionPolicy
from amc_reports.collection.week import WeekCollector

__all__ = [
    "BatchOutcome",
    "CollectionError",
    "ExecutionFailedError",
    "LoadError",
    "PollPolicy",
    "RejectionPolicy",
    "RunInfo",
    "RunInterrupted",
    "SubmissionError",
    "WeekBusyError",
    "WeekCollector",
    "WeekNotFinal",
    "WeekOutcome",
    "collect_weeks",
]
