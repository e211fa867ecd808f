"""Collecting weeks: the single-week procedure (`WeekCollector`) and the weeks of one run
(`collect_weeks`). Written against the AMC client and the warehouse; nothing of Dagster."""

from amc_reports.collection import outcome
from amc_reports.collection.batch import BatchOutcome, RunInfo, RunInterrupted, collect_weeks
from amc_reports.collection.outcome import *  # noqa: F403 (its __all__: the outcome and errors)
from amc_reports.collection.policies import (
    CollectionPolicy,
    PollPolicy,
    max_run_seconds,
)
from amc_reports.collection.week import WeekCollector

__all__ = [
    *outcome.__all__,
    "BatchOutcome",
    "PollPolicy",
    "CollectionPolicy",
    "RunInfo",
    "RunInterrupted",
    "WeekCollector",
    "collect_weeks",
    "max_run_seconds",
]
