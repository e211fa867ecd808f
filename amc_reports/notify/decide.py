"""Which finished runs are worth a message, and which message (no Dagster: the sensor hands over
plain facts about each run, the warehouse says what it knows of each week).

- A collection that failed: one `WEEK_FAILED` alert per week the run failed and that is still
  failed by it when the alert is decided, with the ids, reason and failure kind of its row in
  `report_data_weeks` (or, if the run failed before it claimed a week, the failure's own
  description and metadata). Not for a run that Dagster will retry, nor for a week collected since
  (the reconciler relaunched it): the sensor decides a failed run's alerts only after the
  reconciler's time to heal it has passed.
- The failures of one backfill: one `BACKFILL_FAILED` digest once the backfill is done, its failed
  weeks grouped by failure kind (`backfill_digest`), instead of one message per week.
- A failure marked `amc_reports/failure_kind: circuit_breaker`: one `CIRCUIT_BREAKER` alert per
  report, instance and backfill, however many weeks fail after it.
- The freshness check failing: one `STALE_REPORT` alert per report, instance and missing week.
- Any other check failing with ERROR severity: one `CHECK_ERROR` alert per check, week and
  collected version of the week.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from amc_reports.notify.messages import Alert, AlertKind, FailureGroup, TargetRef
from amc_reports.warehouse import Warehouse, WeekKey, WeekRow, WeekStatus

FAILURE_KIND_KEY = "amc_reports/failure_kind"
CIRCUIT_BREAKER_KIND = "circuit_breaker"
WILL_RETRY_TAG = "dagster/will_retry"
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
ERROR = "ERROR"
MEMORY_SIZE = 500


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    description: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckEvaluation:
    asset_path: tuple[str, ...]
    check: str
    partition: str | None
    passed: bool
    severity: str
    description: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    failed: bool
    tags: Mapping[str, str]
    step_failures: Sequence[StepFailure] = ()
    checks: Sequence[CheckEvaluation] = ()

    @property
    def weeks_label(self) -> str | None:
        """The run's week, or its range of weeks, from its partition tags."""
        if self.tags.get(PARTITION_TAG):
            return self.tags[PARTITION_TAG]
        start, end = self.tags.get(RANGE_START_TAG), self.tags.get(RANGE_END_TAG)
        if start and end:
            return start if start == end else f"{start}...{end}"
        return None


@dataclass(frozen=True)
class WeekState:
    """What the warehouse knows of a week, as far as a message needs it."""

    week: str
    status: str
    execution_id: str | None
    amc_execution_id: str | None
    error: str | None
    failure_kind: str | None = None
    dagster_run_id: str | None = None


class WeekLookup(Protocol):
    def week(self, target: TargetRef, week: str) -> WeekState | None: ...

    def failed_by_run(self, target: TargetRef, run_id: str) -> list[WeekState]: ...


@dataclass(frozen=True)
class TargetIndex:
    """Our reports' targets by Dagster asset path and by the step key of their asset."""

    by_asset_path: Mapping[tuple[str, ...], TargetRef]
    by_step_key: Mapping[str, TargetRef]
    freshness_check: str


def alerts_for_run(run: FinishedRun, index: TargetIndex, weeks: WeekLookup) -> list[Alert]:
    alerts: list[Alert] = []
    if run.failed and run.tags.get(WILL_RETRY_TAG, "").lower() != "true":
        alerts += _collection_failures(run, index, weeks)
    alerts += _check_failures(run, index, weeks)
    return alerts


def _collection_failures(run: FinishedRun, index: TargetIndex, weeks: WeekLookup) -> list[Alert]:
    by_target: dict[TargetRef, list[StepFailure]] = defaultdict(list)
    for failure in run.step_failures:
        target = index.by_step_key.get(failure.step_key)
        if target is not None:  # a check step, or a step of something that is not a report
            by_target[target].append(failure)
    alerts = []
    for target, failures in by_target.items():
        breaker = next(
            (f for f in failures if f.metadata.get(FAILURE_KIND_KEY) == CIRCUIT_BREAKER_KIND), None
        )
        if breaker is not None:
            scope = run.tags.get(BACKFILL_TAG) or run.run_id
            alerts.append(
                _from_failure(
                    AlertKind.CIRCUIT_BREAKER,
                    target,
                    run,
                    breaker,
                    f"breaker:{'/'.join(target.asset_path)}:{scope}",
                )
            )
            continue
        failed = weeks.failed_by_run(target, run.run_id)
        if failed:
            alerts += [
                Alert(
                    kind=AlertKind.WEEK_FAILED,
                    target=target,
                    week=state.week,
                    execution_id=state.execution_id,
                    amc_execution_id=state.amc_execution_id,
                    reason=state.error or failures[0].description,
                    run_id=run.run_id,
                    failure_kind=state.failure_kind or failures[0].metadata.get(FAILURE_KIND_KEY),
                    dedupe_key=f"failed:{'/'.join(target.asset_path)}:{state.week}:{run.run_id}",
                )
                for state in failed
            ]
            continue
        if _collected_since(run, target, weeks):
            continue  # the run's week failed, and was collected by another run since (healed)
        # Failed before a week was claimed (held by another run, a configuration error...).
        alerts += [
            _from_failure(
                AlertKind.WEEK_FAILED,
                target,
                run,
                failure,
                f"failed:{'/'.join(target.asset_path)}:{run.weeks_label}:{run.run_id}",
            )
            for failure in failures[:1]
        ]
    return alerts


def _collected_since(run: FinishedRun, target: TargetRef, weeks: WeekLookup) -> bool:
    week = run.tags.get(PARTITION_TAG)
    state = weeks.week(target, week) if week else None
    return (
        state is not None
        and state.status == str(WeekStatus.COMPLETED)
        and state.dagster_run_id != run.run_id
    )


def _from_failure(
    kind: AlertKind, target: TargetRef, run: FinishedRun, failure: StepFailure, dedupe_key: str
) -> Alert:
    return Alert(
        kind=kind,
        target=target,
        week=failure.metadata.get("week") or run.weeks_label,
        execution_id=failure.metadata.get("execution_id") or None,
        amc_execution_id=failure.metadata.get("amc_execution_id") or None,
        reason=failure.description,
        run_id=run.run_id,
        dedupe_key=dedupe_key,
        failure_kind=failure.metadata.get(FAILURE_KIND_KEY),
    )


def _check_failures(run: FinishedRun, index: TargetIndex, weeks: WeekLookup) -> list[Alert]:
    alerts = []
    for evaluation in run.checks:
        target = index.by_asset_path.get(evaluation.asset_path)
        if target is None or evaluation.passed:
            continue
        path = "/".join(target.asset_path)
        if evaluation.check == index.freshness_check:
            week = evaluation.metadata.get("newest_final_week") or evaluation.partition
            kind, key = AlertKind.STALE_REPORT, f"stale:{path}:{week}"
        elif evaluation.severity.upper() == ERROR:
            week = evaluation.partition
            kind, key = AlertKind.CHECK_ERROR, None
        else:
            continue
        state = weeks.week(target, week) if week else None
        execution_id = state.execution_id if state else None
        if key is None:
            key = f"check:{path}:{evaluation.check}:{week}:{execution_id}"
        alerts.append(
            Alert(
                kind=kind,
                target=target,
                week=week,
                execution_id=execution_id,
                amc_execution_id=state.amc_execution_id if state else None,
                reason=evaluation.description,
                run_id=run.run_id,
                check=evaluation.check if kind is AlertKind.CHECK_ERROR else None,
                dedupe_key=key,
            )
        )
    return alerts


class WarehouseWeeks:
    """`WeekLookup` over the warehouse's `report_data_weeks`."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def week(self, target: TargetRef, week: str) -> WeekState | None:
        try:
            start = date.fromisoformat(week)
        except ValueError:
            return None
        row = self.warehouse.get_week_by_key(WeekKey(target.report, target.instance, start))
        return _state(row) if row is not None else None

    def failed_by_run(self, target: TargetRef, run_id: str) -> list[WeekState]:
        return [
            _state(row)
            for row in self.warehouse.list_weeks(target.report, target.instance)
            if row.dagster_run_id == run_id and row.status is WeekStatus.FAILED
        ]


def _state(row: WeekRow) -> WeekState:
    return WeekState(
        week=row.week_start_date.isoformat(),
        status=str(row.status),
        execution_id=str(row.execution_id) if row.execution_id else None,
        amc_execution_id=row.amc_execution_id,
        error=row.error_message,
        failure_kind=str(row.failure_kind) if row.failure_kind else None,
        dagster_run_id=row.dagster_run_id,
    )


DIGESTED = (AlertKind.WEEK_FAILED, AlertKind.CIRCUIT_BREAKER)
UNKNOWN_KIND = "unknown"


def backfill_digest(backfill_id: str, alerts: Sequence[Alert]) -> list[Alert]:
    """The failures of one finished backfill as one `BACKFILL_FAILED` alert (grouped by failure
    kind: how many weeks, the first ones, one reason each), the other alerts as they are. A single
    failure is told as it is (with its ids and run)."""
    failures = [a for a in alerts if a.kind in DIGESTED]
    rest = [a for a in alerts if a.kind not in DIGESTED]
    if len(failures) <= 1:
        return [*failures, *rest]
    by_kind: dict[str, list[Alert]] = defaultdict(list)
    for alert in failures:
        by_kind[alert.failure_kind or UNKNOWN_KIND].append(alert)
    groups = tuple(
        FailureGroup(
            kind=kind,
            weeks=tuple(sorted({a.week or "?" for a in group})),
            reason=group[0].reason,
        )
        for kind, group in sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    )
    first = failures[0]
    digest = Alert(
        kind=AlertKind.BACKFILL_FAILED,
        target=first.target,
        week=None,
        execution_id=None,
        amc_execution_id=None,
        reason="",
        run_id=None,
        dedupe_key=f"backfill:{backfill_id}",
        backfill_id=backfill_id,
        groups=groups,
        targets=tuple(sorted({f"{a.target.report} on {a.target.instance}" for a in failures})),
    )
    return [digest, *rest]


@dataclass
class AlertMemory:
    """The dedupe keys of the alerts already sent (the most recent `MEMORY_SIZE`)."""

    keys: list[str] = field(default_factory=list)

    def seen(self, key: str | None) -> bool:
        return key is not None and key in self.keys

    def remember(self, key: str | None) -> None:
        if key is None or key in self.keys:
            return
        self.keys.append(key)
        del self.keys[:-MEMORY_SIZE]
