"""What the product needs to know of Dagster's runs: is a run alive, is a week targeted by a
queued or running run, and the tags every collection run carries (its maximum run time)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from amc_reports.collection import max_run_seconds
from amc_reports.config import ReportConfig, ReportTarget
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.warehouse import WeekKey

# Run monitoring terminates a run past this many seconds (and frees its pool slot).
MAX_RUNTIME_TAG = "dagster/max_runtime"
REASON_TAG = "amc_reports/reason"
# A run launched as the next attempt of a week (by the reconciler): which attempt it is.
ATTEMPT_TAG = "amc_reports/attempt"
FAILURE_KIND_KEY = "amc_reports/failure_kind"
# A run tagged `amc_reports/new_execution: true` submits a new AMC execution for its weeks
# instead of resuming one (e.g. a result that cannot be loaded).
NEW_EXECUTION_TAG = "amc_reports/new_execution"

_PARTITION_TAG = "dagster/partition"
_RANGE_START_TAG = "dagster/asset_partition_range_start"
_RANGE_END_TAG = "dagster/asset_partition_range_end"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def collection_run_tags(report: ReportConfig) -> dict[str, str]:
    """Tags of a run collecting the report: a maximum run time above AMC's own execution
    timeout, every attempt and backoff included, so a stuck run cannot hold a pool slot forever.
    (Runs launched without them, e.g. from the UI, get the instance's `max_runtime_seconds`.)"""
    return {MAX_RUNTIME_TAG: str(max_run_seconds(report.timeout_seconds, report.max_attempts))}


def first_attempt(tags: Mapping[str, str]) -> int:
    """The attempt a run's collection starts at (1, unless launched as a later attempt)."""
    value = tags.get(ATTEMPT_TAG)
    try:
        return max(1, int(value)) if value else 1
    except ValueError:
        return 1


def asks_new_execution(tags: Mapping[str, str]) -> bool:
    """Whether the run's tags ask for a new AMC execution of its weeks."""
    return tags.get(NEW_EXECUTION_TAG, "").strip().lower() in ("true", "1", "yes")


def run_is_alive(instance: dg.DagsterInstance, run_id: str) -> bool:
    """The run exists in this instance and has not finished."""
    run = instance.get_run_by_id(run_id)
    return run is not None and not run.is_finished


class ActiveRuns:
    """The queued and running runs of an instance, read once, asked per week."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._runs: list[dg.DagsterRun] | None = None

    def targets(self, target: ReportTarget, key: WeekKey) -> bool:
        """Whether a queued or running run materializes this week of this asset."""
        if self._runs is None:
            self._runs = list(self._instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE)))
        asset_key = report_asset_key(target.report, target.instance)
        week = key.week_start.isoformat()
        for run in self._runs:
            if run.asset_selection is not None and asset_key not in run.asset_selection:
                continue
            tags = run.tags
            if tags.get(_PARTITION_TAG) == week:
                return True
            start, end = tags.get(_RANGE_START_TAG), tags.get(_RANGE_END_TAG)
            if start and end and start <= week <= end:
                return True
        return False
