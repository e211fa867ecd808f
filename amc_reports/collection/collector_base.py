"""What every step of collecting one week needs: the report's week (window, key, parameters),
the policy `next_step` decides with, and how a failure is recorded on the week.

`week.WeekCollector` (the procedure) builds on `submission.SubmittingCollector` (sending to AMC,
adopting what AMC created without naming it), which builds on this.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from amc_reports.amc import AmcClient
from amc_reports.collection import next_step
from amc_reports.collection.guards import SubmitGuards, quietly
from amc_reports.collection.next_step import Situation
from amc_reports.collection.outcome import CollectionError, ExecutionFailedError
from amc_reports.collection.policies import CollectionPolicy, PollPolicy
from amc_reports.config import InstanceConfig, ReportConfig, resolve_parameters
from amc_reports.warehouse import ExecutionState, FailureKind, Warehouse, WeekKey, WeekStatus
from amc_reports.warehouse.loading import LoadOptions
from amc_reports.warehouse.versions import HistoryRetention
from amc_reports.weeks import WeekWindow


class Logger(Protocol):
    def info(self, msg: str, *args: Any) -> Any: ...
    def warning(self, msg: str, *args: Any) -> Any: ...
    def error(self, msg: str, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Attempt:
    """One collection of one week: the run, its backfill, the week."""

    window: WeekWindow
    key: WeekKey
    run_id: str
    backfill_id: str | None
    first_attempt: int = 1
    new_execution: bool = False  # a new AMC execution was asked for: nothing is resumed


@dataclass
class Tries:
    """Attempts of one collection: `attempt` is the one in progress."""

    attempt: int = 1
    submissions: int = 0  # executions submitted (paid for) by this collection
    retried: int = 0


@dataclass(frozen=True)
class Execution:
    """The AMC execution the collection works on, and how it came to."""

    id: uuid.UUID
    amc_id: str
    resumed: bool = False  # submitted by an earlier attempt (resumed or adopted): no new payment
    adopted: bool = False  # AMC created it without naming it; found in its list
    load_failures: int = 0


class CollectorBase:
    """One report on one AMC instance, as the collection of its weeks sees it."""

    def __init__(
        self,
        report: ReportConfig,
        amc: AmcClient,
        warehouse: Warehouse,
        *,
        log: Logger | None = None,
        poll: PollPolicy | None = None,
        policy: CollectionPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        instance: InstanceConfig | None = None,
        adoption_lookups: int = 3,
        adoption_interval_seconds: float = 2.0,
    ) -> None:
        self.report = report
        self.instance = instance or report.instance
        self.amc = amc
        self.warehouse = warehouse
        self.life = warehouse.life
        self.log: Logger = log or logging.getLogger("amc_reports.collection")
        self.poll = poll or PollPolicy()
        # The report's budget, with the deployment's backoff and polling.
        self.policy = dataclasses.replace(
            policy or CollectionPolicy(), max_attempts=max(1, report.max_attempts), poll=self.poll
        )
        self.guards = SubmitGuards(report, self.instance, warehouse, self.log)
        self.adoption_lookups = max(1, adoption_lookups)
        self.adoption_interval_seconds = adoption_interval_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._clock = clock
        # (execution_id, amc_execution_id) while AMC works on one: cancelled if interrupted.
        self._in_flight: tuple[uuid.UUID, str] | None = None

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    def window(self, week_start: date) -> WeekWindow:
        return WeekWindow(week_start=week_start, time_zone=self.report.timezone)

    def key(self, week_start: date) -> WeekKey:
        return WeekKey(self.report.name, self.instance.alias, week_start)

    def final_at(self, week_start: date) -> datetime:
        """When the week's data is final (its end plus the report's lag, in its zone)."""
        return self.window(week_start).final_at(self.report.lag_days)

    def is_final(self, week_start: date) -> bool:
        return self._clock() >= self.final_at(week_start)

    def parameters(self, week_start: date) -> dict[str, Any]:
        """The report's parameter values for this instance and week (templates filled in)."""
        window = self.window(week_start)
        return resolve_parameters(self.report, self.instance, window.week_start, window.week_end)

    def fingerprint(self, week_start: date) -> str:
        """What AMC runs for this instance and week: the key to resume or adopt an execution."""
        return self.report.fingerprint_for(self.parameters(week_start))

    @property
    def load_options(self) -> LoadOptions:
        return LoadOptions(
            key_columns=self.report.key_columns,
            measures=self.report.measures,
            retention=HistoryRetention(max_age_days=self.report.history_retention_days),
        )

    def describe(self, window: WeekWindow) -> str:
        return self.key(window.week_start).describe()

    def _release_week(self, attempt: Attempt, exc: BaseException) -> None:
        """An unexpected error or an interrupt outside AMC's work: do not leave the week running."""
        what = "interrupted" if not isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
        message = (
            f"{self.describe(attempt.window)} stopped before finishing ({what}). Any AMC "
            "execution already submitted is resumed when the week is materialized again (or by "
            "the reconciler once AMC has finished it)."
        )
        try:
            self.life.release(attempt.key, message, run_id=attempt.run_id)
        except Exception as inner:  # the original error matters more
            self.log.error(f"{message} Recording that failed too: {inner}")

    def _situation(self, said: next_step.AmcSaid, tries: Tries, **facts: Any) -> Situation:
        """What the decision looks at, as this run sees it (it holds the week)."""
        return Situation(said=said, attempt=tries.attempt, week=WeekStatus.RUNNING, **facts)

    def _back_off(self, attempt: Attempt, tries: Tries, what: str, delay: float) -> None:
        """Wait `delay` before the next attempt."""
        self.log.warning(
            f"{self.describe(attempt.window)}: {what}"
            + (f" in {delay:.0f} s" if delay else " now")
            + f" (attempt {tries.attempt + 1} of {self.policy.max_attempts})"
        )
        if delay:
            self._sleep(delay)
        tries.attempt += 1
        tries.retried += 1

    def _quietly(self, action: Callable[[], Any]) -> Any:
        return quietly(self.log, "the week's bookkeeping", action)

    def _fail(
        self,
        attempt: Attempt,
        execution: Execution,
        reason: str,
        *,
        kind: FailureKind,
        execution_status: ExecutionState | None = None,
        failure_reason: str | None = None,
        error_class: type[CollectionError] = ExecutionFailedError,
    ) -> CollectionError:
        """Record the week's failure; the error to raise. Without `execution_status` the
        execution keeps its status (it may still be running, or be loaded on the next try).
        A week another run has taken over meanwhile is left to that run."""
        amc_id = execution.amc_id or None
        message = next_step.failure_message(
            self.describe(attempt.window), execution.id, amc_id, reason
        )
        week = self.life.fail(
            attempt.key,
            execution_id=execution.id,
            amc_execution_id=amc_id,
            message=message,
            execution_status=execution_status,
            execution_reason=failure_reason or reason,
            failure_kind=kind,
            run_id=attempt.run_id,
        )
        if week is None:
            self.log.warning(
                f"{self.describe(attempt.window)} is held by another run now; its row is left "
                "to that run"
            )
        self.log.error(message)
        return error_class(message, execution_id=execution.id, amc_execution_id=amc_id, kind=kind)
