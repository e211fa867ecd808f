"""Collect one (report, week): claim, resume or adopt or submit, poll, load, record.

Written against the AMC client and the warehouse only; every change of the week's state goes
through `warehouse.life` (`WeekLife`), the one owner of the week and execution rows. The Dagster
layer (through `batch.collect_weeks`) turns the `WeekOutcome`, or the `CollectionError`, into a
materialization or a failed run.

Never paying AMC twice: an execution submitted earlier (same week, same AMC instance, same query
fingerprint) that AMC still works on, or that succeeded but was never loaded, is resumed; one AMC
created without naming it to us (a create answered without an id, a connection cut after
sending) is looked for in AMC's list and adopted, right away and again on the next attempt; one
AMC no longer knows (HTTP 404) is marked lost and a new one submitted. A run whose claim on the
week was taken over cannot commit its load (fencing, in the load's transaction).

Healing itself: a failure on AMC's side (internal error, timeout, a lost execution, a create AMC
kept failing) is submitted again after a backoff, up to the report's `max_attempts`; a query
error never is. In a backfill, a report whose weeks keep failing with query errors trips its
circuit breaker (`warehouse.breakers`): its remaining weeks fail at once without submitting. An
execution still running past AMC's own timeout (plus a margin) is cancelled: a stuck poll never
holds a pool slot forever.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from amc_reports.amc import (
    AmcApiError,
    AmcClient,
    AmcCreateOutcomeUnknownError,
    AmcError,
    AmcMissingExecutionIdError,
    ExecutionRecord,
    ExecutionStatus,
)
from amc_reports.amc_sql import parse_amc_sql
from amc_reports.collection.adoption import Expected, find_untracked
from amc_reports.collection.failures import (
    Classified,
    classify_contact_error,
    classify_reason,
    classify_request_error,
)
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
from amc_reports.collection.policies import PollPolicy, RejectionPolicy, TransientRetryPolicy
from amc_reports.config import InstanceConfig, ReportConfig, resolve_parameters
from amc_reports.warehouse import (
    ClaimLost,
    ExecutionState,
    FailureKind,
    LoadResult,
    ResultLoadError,
    Submission,
    Warehouse,
    WeekKey,
)
from amc_reports.warehouse.loading import LoadOptions
from amc_reports.warehouse.week_life import HistoryRetention
from amc_reports.weeks import WeekWindow


class Logger(Protocol):
    def info(self, msg: str, *args: Any) -> Any: ...
    def warning(self, msg: str, *args: Any) -> Any: ...
    def error(self, msg: str, *args: Any) -> Any: ...


@dataclass(frozen=True)
class _Attempt:
    """One collection of one week: the run, its backfill, the week."""

    window: WeekWindow
    key: WeekKey
    run_id: str
    backfill_id: str | None
    first_attempt: int = 1


@dataclass
class _Tries:
    """Submissions of one collection: AMC-side failures retried up to `limit` attempts."""

    limit: int
    attempt: int = 1  # the attempt in progress
    submissions: int = 0  # executions submitted (paid for) by this collection
    rejections: int = 0
    retried: int = 0

    @property
    def can_retry(self) -> bool:
        return self.attempt < self.limit


@dataclass(frozen=True)
class _Execution:
    """The AMC execution the collection works on, and how it came to."""

    id: uuid.UUID
    amc_id: str
    resumed: bool = False  # submitted by an earlier attempt (resumed or adopted): no new payment
    adopted: bool = False  # AMC created it without naming it; found in its list


class _Lost(Exception):
    """AMC answered 404 for the execution."""


class WeekCollector:
    """The collection procedure of one report, week after week."""

    def __init__(
        self,
        report: ReportConfig,
        amc: AmcClient,
        warehouse: Warehouse,
        *,
        log: Logger | None = None,
        poll: PollPolicy | None = None,
        rejection: RejectionPolicy | None = None,
        retry: TransientRetryPolicy | None = None,
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
        self.rejection = rejection or RejectionPolicy()
        self.retry = retry or TransientRetryPolicy()
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
            retention=HistoryRetention(max_age_days=self.report.history_retention_days),
        )

    def describe(self, window: WeekWindow) -> str:
        return self.key(window.week_start).describe()

    # -- the procedure -------------------------------------------------------------------------

    def collect(
        self,
        week_start: date,
        *,
        dagster_run_id: str,
        collection_id: uuid.UUID | None = None,
        run_is_alive: Callable[[str], bool] | None = None,
        backfill_id: str | None = None,
        first_attempt: int = 1,
    ) -> WeekOutcome:
        """Collect one week; raises `CollectionError` with a readable message when it cannot.

        If the run is interrupted (terminated) while an AMC execution is in flight, that execution
        is cancelled at AMC and the week marked failed before the interrupt propagates.
        `backfill_id` (when the run belongs to a backfill) is the scope of the circuit breaker;
        `first_attempt` is the attempt this collection starts at (a run launched as the next
        attempt of the week: it gets the attempts left of the report's `max_attempts`, at least
        one).
        """
        window = self.window(week_start)
        if self.report.provisional_weeks == "skip" and not self.is_final(week_start):
            final_at = self.final_at(week_start)
            reason = (
                f"{self.describe(window)} is not final until {final_at.isoformat()} and the "
                "report collects final weeks only (provisional_weeks: skip): nothing submitted"
            )
            self.life.skip(self.key(week_start), reason)
            raise WeekNotFinal(reason, final_at=final_at)
        attempt = _Attempt(window, self.key(week_start), dagster_run_id, backfill_id, first_attempt)
        self._claim(window, dagster_run_id, collection_id, run_is_alive)
        self._in_flight = None
        try:
            outcome = self._collect_claimed(attempt)
        except CollectionError as exc:
            self._count_for_breaker(attempt, exc)
            raise  # already recorded on the week row
        except BaseException as exc:
            in_flight, self._in_flight = self._in_flight, None
            if in_flight is not None and not isinstance(exc, Exception):
                self._cancel_on_interrupt(attempt, *in_flight)
            else:
                self._release_week(attempt, exc)
            raise
        if backfill_id:
            self._quietly(lambda: self.warehouse.breakers.record_success(backfill_id, attempt.key))
        return outcome

    def _release_week(self, attempt: _Attempt, exc: BaseException) -> None:
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

    def _collect_claimed(self, attempt: _Attempt) -> WeekOutcome:
        limit = max(1, self.report.max_attempts)
        tries = _Tries(limit=limit, attempt=min(max(1, attempt.first_attempt), limit))
        execution = self._resume_adopt_or_submit(attempt, tries)
        while True:
            try:
                record = self._wait(attempt, execution)
            except _Lost as lost:
                execution = self._after_lost(attempt, tries, execution, str(lost))
                continue
            if record.is_success:
                break
            if record.status is ExecutionStatus.REJECTED:
                execution = self._after_rejection(attempt, tries, execution, record)
                continue
            execution = self._after_failure(attempt, tries, execution, record)

        load = self._load(attempt, execution)
        how = " (adopted)" if execution.adopted else " (resumed)" if execution.resumed else ""
        self.log.info(
            f"Collected {self.describe(attempt.window)}: {load.record_count} rows from AMC "
            f"execution {execution.amc_id}{how} (execution_id {execution.id})"
        )
        return WeekOutcome(
            report=self.report.name,
            window=attempt.window,
            execution_id=execution.id,
            amc_execution_id=execution.amc_id,
            resumed=execution.resumed,
            record=record,
            load=load,
            submissions=tries.submissions,
            data_gaps=list(record.data_gaps),
            instance=self.instance.alias,
            provisional=load.provisional,
            final_at=self.final_at(attempt.window.week_start),
            adopted=execution.adopted,
            retried=tries.retried,
        )

    def already_collected(self, week_start: date, root_run_id: str) -> WeekOutcome | None:
        """The week's outcome if a run of the same family (Dagster's root run `root_run_id`)
        already collected it, else None.

        A retried run of a batch of weeks must not pay AMC again for the weeks its predecessor
        finished: those are reused (their stored ids, counts and AMC record), also when the
        retry comes after its backfill ended (it then carries no backfill tag). A new backfill
        of the same weeks, or a new manual run, is a new family: it collects again on purpose.
        """
        row = self.warehouse.get_week_by_key(self.key(week_start))
        if row is None or not row.is_completed or row.collection_id is None:
            return None
        collection = self.warehouse.get_collection(row.collection_id)
        if collection is None or collection.root_run_id != root_run_id:
            return None
        if row.execution_id is None or not row.amc_execution_id:
            return None
        execution = self.warehouse.get_execution(row.execution_id)
        version = self.warehouse.get_version(row.execution_id)
        record = self.amc.get_execution(self.instance_id, row.amc_execution_id)
        self.log.info(
            f"{self.describe(self.window(week_start))} was already collected by run "
            f"{collection.dagster_run_id} of this run's family (execution_id {row.execution_id}): "
            "reused, not submitted again"
        )
        return WeekOutcome(
            report=self.report.name,
            window=self.window(week_start),
            execution_id=row.execution_id,
            amc_execution_id=row.amc_execution_id,
            resumed=True,
            record=record,
            load=LoadResult(
                record_count=row.record_count or 0,
                checksum=row.data_checksum or "",
                bytes=(execution.bytes if execution else None) or 0,
                seconds=0.0,
                columns=list(row.result_columns or []),
                provisional=row.provisional,
                restatement=version.restatement if version else None,
            ),
            submissions=0,
            data_gaps=list(record.data_gaps),
            instance=self.instance.alias,
            provisional=row.provisional,
            final_at=self.final_at(week_start),
        )

    # -- after an execution ended without a result ---------------------------------------------

    def _after_rejection(
        self, attempt: _Attempt, tries: _Tries, execution: _Execution, record: ExecutionRecord
    ) -> _Execution:
        """AMC rejected it (too many executions over the same data at once): submit again later,
        up to the rejection policy's attempts."""
        tries.rejections += 1
        reason = record.failure_reason or "no reason given"
        if tries.rejections >= self.rejection.max_attempts:
            raise self._fail(
                attempt,
                execution,
                f"AMC rejected the execution {tries.rejections} times (too many executions over "
                f"the same data at once): {reason}. Try again later.",
                kind=FailureKind.REJECTED,
                execution_status=ExecutionState.REJECTED,
                failure_reason=reason,
            )
        delay = self.rejection.delay(tries.rejections)
        self.log.warning(
            f"AMC rejected execution {execution.amc_id} for {self.describe(attempt.window)} "
            f"({reason}); submitting again in {delay:.0f} s "
            f"(attempt {tries.rejections + 1} of {self.rejection.max_attempts})"
        )
        self._sleep(delay)
        return self._submit(attempt, tries)

    def _after_failure(
        self, attempt: _Attempt, tries: _Tries, execution: _Execution, record: ExecutionRecord
    ) -> _Execution:
        """AMC ended it FAILED or CANCELLED: submit again if AMC failed on its side and attempts
        remain, else the week fails with AMC's reason and the kind of failure."""
        reason = record.failure_reason or "AMC gave no reason"
        if record.validation_errors:
            reason += " (" + "; ".join(record.validation_errors) + ")"
        status = ExecutionState(record.status.value)
        if record.status is ExecutionStatus.CANCELLED:
            classified = Classified(FailureKind.CANCELLED, "AMC cancelled it")
        else:
            classified = classify_reason(record.failure_reason, record.validation_errors)
        if classified.retryable and tries.can_retry:
            self.life.progress(execution.id, status, failure_kind=classified.kind)
            return self._retry(
                attempt,
                tries,
                f"AMC execution {execution.amc_id} ended {status.value}: {reason} "
                f"(a failure on AMC's side: {classified.why})",
            )
        if classified.kind is FailureKind.TRANSIENT:
            advice = (
                f"AMC failed on its side {tries.attempt} time(s), the report's max_attempts. "
                "Materialize the week again later (a new AMC execution is submitted)."
            )
        elif classified.kind is FailureKind.CANCELLED:
            advice = "Materialize the week again to collect it (a new AMC execution is submitted)."
        else:
            advice = (
                f"This is a query error ({classified.why}): it is not retried. Fix the report's "
                "query (syntax, columns, resource limits), then materialize the week again."
            )
        raise self._fail(
            attempt,
            execution,
            f"AMC execution ended {status.value}: {reason}. {advice}",
            kind=classified.kind,
            execution_status=status,
            failure_reason=reason,
        )

    def _after_lost(
        self, attempt: _Attempt, tries: _Tries, execution: _Execution, reason: str
    ) -> _Execution:
        """AMC no longer knows the execution: it is marked lost; a new one is submitted at once
        while attempts remain (nothing was paid for twice: AMC dropped the first)."""
        self.life.mark_lost(execution.id, reason)
        self._in_flight = None
        if tries.can_retry:
            return self._retry(
                attempt,
                tries,
                f"AMC no longer knows execution {execution.amc_id} ({reason}); marked lost",
                delay=0.0,
            )
        raise self._fail(
            attempt,
            execution,
            f"AMC no longer knows the execution ({reason}). It is marked lost: the next attempt "
            "submits a new one; materialize the week again.",
            kind=FailureKind.LOST,
        )

    def _retry(
        self, attempt: _Attempt, tries: _Tries, what: str, *, delay: float | None = None
    ) -> _Execution:
        self._back_off(attempt, tries, f"{what}; submitting again", delay=delay)
        return self._submit(attempt, tries)

    # -- steps ---------------------------------------------------------------------------------

    def _claim(
        self,
        window: WeekWindow,
        run_id: str,
        collection_id: uuid.UUID | None,
        run_is_alive: Callable[[str], bool] | None,
    ) -> None:
        key = self.key(window.week_start)
        claim = self.life.claim(key, run_id=run_id, collection_id=collection_id)
        if claim.claimed:
            return
        holder = claim.holder_run_id or "unknown"
        if run_is_alive is not None and claim.holder_run_id and not run_is_alive(holder):
            self.log.warning(
                f"{self.describe(window)} was left running by run {holder}, which has ended; "
                "taking it over"
            )
            claim = self.life.take_over(
                key, run_id=run_id, from_run_id=holder, collection_id=collection_id
            )
            if claim.claimed:
                return
            holder = claim.holder_run_id or "unknown"
        raise WeekBusyError(
            f"{self.describe(window)} is being collected by run {holder}; nothing was submitted. "
            "Wait for that run to finish, or terminate it, then materialize the week again.",
            holder_run_id=holder,
        )

    def _resume_adopt_or_submit(self, attempt: _Attempt, tries: _Tries) -> _Execution:
        """An execution an earlier attempt submitted (resumed), one AMC created without naming
        it (adopted), else a new submission."""
        key = attempt.key
        fingerprint = self.fingerprint(attempt.window.week_start)
        existing = self.life.resumable_execution(key, fingerprint, amc_instance_id=self.instance_id)
        if existing is not None and existing.amc_execution_id:
            self.log.info(
                f"Resuming AMC execution {existing.amc_execution_id} (execution_id "
                f"{existing.id}, status {existing.status}) for {self.describe(attempt.window)}: "
                "no new submission"
            )
            self.life.resume(key, existing.id, run_id=attempt.run_id)
            self._in_flight = (existing.id, existing.amc_execution_id)
            return _Execution(existing.id, existing.amc_execution_id, resumed=True)
        for untracked in self.life.untracked_executions(
            key, fingerprint, amc_instance_id=self.instance_id
        ):
            found = self._look_for_untracked(attempt, untracked.id, untracked.created_at)
            if found is not None:
                self.life.resume(key, untracked.id, run_id=attempt.run_id)
                return _Execution(untracked.id, found, resumed=True, adopted=True)
            self.life.mark_lost(
                untracked.id,
                "AMC lists no execution of this window and query created since it was sent: "
                "assumed never created",
            )
            self.log.warning(
                f"The untracked submission {untracked.id} of {self.describe(attempt.window)} is "
                "not in AMC's list of executions: assumed never created; submitting anew"
            )
        return self._submit(attempt, tries)

    def _look_for_untracked(
        self, attempt: _Attempt, execution_id: uuid.UUID, sent_at: datetime
    ) -> str | None:
        """Find the execution AMC created for `execution_id` without naming it; adopt it. Its
        AMC id, or None when AMC does not list it. AMC unreachable: the week fails (submitting
        blind could pay twice)."""
        window = attempt.window
        expected = Expected(
            time_window_start=window.amc_start,
            time_window_end=window.amc_end,
            time_zone=window.time_zone,
            sql=self.report.sql,
            workflow_id=self.report.workflow_id,
            parameters=self.parameters(window.week_start),
        )
        try:
            record = find_untracked(
                self.amc,
                self.instance_id,
                expected,
                sent_after=sent_at,
                known=self.warehouse.known_amc_execution_ids,
            )
        except AmcError as exc:
            raise self._fail(
                attempt,
                _Execution(execution_id, ""),
                f"AMC may have created an execution without naming it, and its list of "
                f"executions could not be read ({exc}). Nothing new was submitted (that could "
                "pay twice); materialize the week again later.",
                kind=FailureKind.UNTRACKED,
                error_class=SubmissionError,
            ) from None
        if record is None:
            return None
        self.life.adopt(
            execution_id,
            record.execution_id,
            submitted_at=record.create_time or datetime.now(UTC),
            status=ExecutionState(record.status.value),
        )
        self._in_flight = (execution_id, record.execution_id)
        self.log.warning(
            f"Adopted AMC execution {record.execution_id} (status {record.status.value}) for "
            f"{self.describe(window)}: AMC created it without naming it to us; found in its list "
            f"of executions (execution_id {execution_id}); nothing submitted again"
        )
        return record.execution_id

    def _check_breaker(self, attempt: _Attempt) -> None:
        """In a backfill whose breaker for this report is open, the week fails at once."""
        if not attempt.backfill_id:
            return
        state = self.warehouse.breakers.tripped(
            attempt.backfill_id, self.report.name, self.instance.alias
        )
        if state is None:
            return
        message = (
            f"{self.describe(attempt.window)} was not submitted: the circuit breaker of backfill "
            f"{attempt.backfill_id} is open for this report after {state.consecutive_failures} "
            f"weeks in a row failed with a query error. The first: "
            f"{state.describe_first_failure()}. Fix the report's query, then backfill again."
        )
        raise self._not_submitted(attempt, CircuitBreakerOpen(message))

    def _refuse_unparsable_sql(self, attempt: _Attempt) -> None:
        """SQL that cannot be a query is refused before any AMC time is spent: nothing is
        submitted, the week is failed with the syntax error and where it is."""
        if not self.report.sql:
            return  # a saved workflow: its SQL lives at AMC
        error = parse_amc_sql(self.report.sql)
        if error is None:
            return
        message = (
            f"{self.describe(attempt.window)} was not submitted: its SQL does not parse "
            f"({error}). Nothing was sent to AMC; fix the query (`amc-reports check-sql "
            f"{self.report.name}` shows where), then materialize the week again."
        )
        refused = self._not_submitted(
            attempt, SubmissionError(message, kind=FailureKind.QUERY_ERROR)
        )
        self._count_for_breaker(attempt, refused)
        raise refused

    def _not_submitted(self, attempt: _Attempt, error: CollectionError) -> CollectionError:
        """The week fails before anything was sent to AMC (it keeps the ids it had); the error
        to raise."""
        self.life.release(attempt.key, str(error), failure_kind=error.kind, run_id=attempt.run_id)
        self.log.error(str(error))
        return error

    def _count_for_breaker(self, attempt: _Attempt, error: CollectionError) -> None:
        if not attempt.backfill_id or error.kind is not FailureKind.QUERY_ERROR:
            return
        breakers = self.warehouse.breakers
        state = self._quietly(
            lambda: breakers.record_query_error(
                attempt.backfill_id or "",
                attempt.key,
                message=str(error),
                execution_id=error.execution_id,
                amc_execution_id=error.amc_execution_id,
            )
        )
        if state is not None and state.tripped and state.consecutive_failures == breakers.threshold:
            error.tripped_breaker = True
            self.log.error(
                f"Circuit breaker tripped for report {self.report.name!r} on instance "
                f"{self.instance.alias!r} in backfill {attempt.backfill_id}: "
                f"{state.consecutive_failures} weeks in a row failed with a query error; its "
                f"remaining weeks fail without submitting. The first: "
                f"{state.describe_first_failure()}"
            )

    def _quietly(self, action: Callable[[], Any]) -> Any:
        """Bookkeeping that must not hide the week's own outcome."""
        try:
            return action()
        except Exception as exc:
            self.log.error(f"Recording the circuit breaker's state failed: {exc}")
            return None

    def _submit(self, attempt: _Attempt, tries: _Tries) -> _Execution:
        """Submit a new execution (after the breaker said yes). A create AMC keeps failing on its
        side is sent again with backoff while attempts remain; so is one AMC accepted without
        naming the execution, if after the backoff AMC still does not list it (else adopted)."""
        self._refuse_unparsable_sql(attempt)
        while True:
            self._check_breaker(attempt)
            try:
                return self._submit_once(attempt, tries)
            except _SubmitFailed as failed:
                if not (failed.classified.retryable and tries.can_retry):
                    raise self._fail(
                        attempt,
                        _Execution(failed.execution_id, ""),
                        f"AMC did not accept the execution: {failed.error}",
                        kind=failed.classified.kind,
                        error_class=SubmissionError,
                    ) from None
                self._back_off(
                    attempt,
                    tries,
                    f"AMC did not accept the execution ({failed.error}); submitting again",
                )
            except _NotListed as unlisted:
                if not tries.can_retry:
                    raise self._fail(
                        attempt,
                        _Execution(unlisted.execution_id, ""),
                        f"{unlisted}, and AMC's list of executions does not show one for this "
                        "window and query. Nothing was submitted again (that could pay twice): "
                        "the next attempt looks for it again and adopts it, or submits anew if "
                        "AMC never created it.",
                        kind=FailureKind.UNTRACKED,
                        error_class=SubmissionError,
                    ) from None
                self._back_off(
                    attempt,
                    tries,
                    f"{unlisted}, and AMC does not list it yet; looking again",
                )
                found = self._look_for_untracked(attempt, unlisted.execution_id, unlisted.sent_at)
                if found is not None:
                    return _Execution(unlisted.execution_id, found, adopted=True)
                self.life.mark_lost(
                    unlisted.execution_id,
                    "AMC still lists no execution of this window and query created since it was "
                    "sent: assumed never created",
                )
                self.log.warning(
                    f"AMC still does not list the execution of {self.describe(attempt.window)}: "
                    "assumed never created; submitting anew"
                )

    def _back_off(
        self, attempt: _Attempt, tries: _Tries, what: str, *, delay: float | None = None
    ) -> None:
        """Wait before the next attempt (the retry policy's backoff, unless `delay` is given)."""
        wait = self.retry.delay(tries.attempt) if delay is None else delay
        self.log.warning(
            f"{self.describe(attempt.window)}: {what}"
            + (f" in {wait:.0f} s" if wait else " now")
            + f" (attempt {tries.attempt + 1} of {tries.limit})"
        )
        if wait:
            self._sleep(wait)
        tries.attempt += 1
        tries.retried += 1

    def _submit_once(self, attempt: _Attempt, tries: _Tries) -> _Execution:
        report = self.report
        window = attempt.window
        final_at = self.final_at(window.week_start)
        parameters = self.parameters(window.week_start)
        execution_id = self.life.record_submission(
            attempt.key,
            Submission(
                amc_instance_id=self.instance_id,
                time_window_start=window.amc_start,
                time_window_end=window.amc_end,
                time_zone=window.time_zone,
                sql_hash=report.fingerprint_for(parameters),
                parameters=parameters,
                final_at=final_at,
                provisional=self._clock() < final_at,
            ),
            run_id=attempt.run_id,
            attempt=tries.attempt,
        )
        try:
            record = self.amc.create_execution(
                self.instance_id,
                sql=report.sql,
                workflow_id=report.workflow_id,
                time_window_start=window.amc_start,
                time_window_end=window.amc_end,
                time_zone=window.time_zone,
                parameter_values=parameters or None,
                ignore_data_gaps=report.ignore_data_gaps,
                timeout_seconds=report.timeout_seconds,
            )
        except (AmcMissingExecutionIdError, AmcCreateOutcomeUnknownError) as exc:
            tries.submissions += 1  # AMC may have started it: counted as paid
            return self._adopt_now(attempt, execution_id, exc)
        except AmcError as exc:
            self.life.progress(
                execution_id,
                ExecutionState.SUBMIT_FAILED,
                completed_at=datetime.now(UTC),
                failure_reason=str(exc),
                failure_kind=classify_request_error(exc).kind,
            )
            raise _SubmitFailed(execution_id, exc, classify_request_error(exc)) from None
        except BaseException:
            # Interrupted (run terminated) between recording and AMC's answer: AMC may have
            # created it; the next attempt looks for it before submitting.
            self.life.mark_untracked(
                execution_id, "interrupted while submitting to AMC; it may have been created"
            )
            raise
        tries.submissions += 1
        amc_id = record.execution_id
        self._in_flight = (execution_id, amc_id)
        self.life.attach(
            execution_id,
            amc_id,
            submitted_at=record.create_time or datetime.now(UTC),
            status=ExecutionState(record.status.value),
        )
        self.log.info(
            f"Submitted AMC execution {amc_id} (execution_id {execution_id}) for "
            f"{self.describe(window)}, window {window.amc_start} to {window.amc_end} "
            f"{window.time_zone}" + (f", attempt {tries.attempt}" if tries.attempt > 1 else "")
        )
        return _Execution(execution_id, amc_id)

    def _adopt_now(self, attempt: _Attempt, execution_id: uuid.UUID, exc: AmcError) -> _Execution:
        """AMC accepted the create but did not name the execution (or the connection broke after
        sending): look for it in AMC's list, a few times (AMC may list it a moment later)."""
        if isinstance(exc, AmcMissingExecutionIdError):
            what = "AMC accepted the execution but returned no execution id"
        else:
            what = "the connection to AMC broke after the request was sent"
        self.life.mark_untracked(execution_id, f"{what}: {exc}")
        self.log.warning(f"{what} for {self.describe(attempt.window)}; looking for it at AMC")
        row = self.warehouse.get_execution(execution_id)
        sent_at = row.created_at if row is not None else datetime.now(UTC)
        for lookup in range(self.adoption_lookups):
            if lookup:
                self._sleep(self.adoption_interval_seconds)
            found = self._look_for_untracked(attempt, execution_id, sent_at)
            if found is not None:
                return _Execution(execution_id, found, adopted=True)
        raise _NotListed(f"{what} ({exc})", execution_id=execution_id, sent_at=sent_at)

    def _wait(self, attempt: _Attempt, execution: _Execution) -> ExecutionRecord:
        """Poll AMC until the execution ends; give it up (cancelled) past the wait limit."""
        started = self._monotonic()
        limit = self.poll.wait_limit(self.report.timeout_seconds)
        last_status: ExecutionStatus | None = None
        while True:
            try:
                record = self.amc.get_execution(self.instance_id, execution.amc_id)
            except AmcApiError as exc:
                if exc.status_code == 404:
                    raise _Lost(f"AMC answered HTTP 404: {exc.amc_message}") from None
                raise self._lost_contact(attempt, execution, exc) from None
            except AmcError as exc:
                raise self._lost_contact(attempt, execution, exc) from None
            if record.status is not last_status:
                self.life.progress(
                    execution.id,
                    ExecutionState(record.status.value),
                    started_at=record.start_time,
                    completed_at=record.end_time if record.is_terminal else None,
                    failure_reason=record.failure_reason,
                    data_gaps=list(record.data_gaps) or None,
                )
                self.log.info(
                    f"AMC execution {execution.amc_id} for {self.describe(attempt.window)} is "
                    f"{record.status.value}"
                )
                last_status = record.status
            if record.is_terminal:
                self._in_flight = None
                return record
            waited = self._monotonic() - started
            if waited > limit:
                raise self._give_up(attempt, execution, waited)
            self._sleep(self.poll.interval(waited))

    def _lost_contact(
        self, attempt: _Attempt, execution: _Execution, exc: AmcError
    ) -> CollectionError:
        return self._fail(
            attempt,
            execution,
            f"lost contact with AMC while waiting for the execution ({exc}). It may still be "
            "running: the reconciler, or materializing the week again, resumes it (no new "
            "submission).",
            kind=classify_contact_error(exc).kind,
        )

    def _give_up(self, attempt: _Attempt, execution: _Execution, waited: float) -> CollectionError:
        """Still running past AMC's own timeout and the margin: cancel it and fail the week."""
        self._in_flight = None
        status = ExecutionState.CANCELLED
        try:
            status = ExecutionState(
                self.amc.cancel_execution(self.instance_id, execution.amc_id).status.value
            )
            cancelled = "cancelled it"
        except AmcError as exc:
            cancelled = f"cancelling it failed ({exc})"
        timeout = self.report.timeout_seconds or "AMC's default"
        return self._fail(
            attempt,
            execution,
            f"AMC still had not finished the execution after {waited:.0f} s of waiting, past its "
            f"own execution timeout ({timeout} s) and the margin; {cancelled}. Materialize the "
            "week again to submit a new one.",
            kind=FailureKind.TIMEOUT,
            execution_status=status,
        )

    def _cancel_on_interrupt(self, attempt: _Attempt, execution_id: uuid.UUID, amc_id: str) -> None:
        """The run was terminated while AMC works: cancel there, so nobody pays for it."""
        row = self.warehouse.get_execution(execution_id)
        if row is not None and row.amc_execution_id is None:
            self.life.attach(execution_id, amc_id, submitted_at=datetime.now(UTC))
        try:
            record = self.amc.cancel_execution(self.instance_id, amc_id)
            status = ExecutionState(record.status.value)
            self.log.warning(f"Run terminated: cancelled AMC execution {amc_id}")
        except AmcError as exc:
            status = ExecutionState.CANCELLED
            self.log.warning(f"Run terminated; cancelling AMC execution {amc_id} failed: {exc}")
        reason = "cancelled because the Dagster run was terminated"
        self.life.fail(
            attempt.key,
            execution_id=execution_id,
            amc_execution_id=amc_id,
            message=reason,
            execution_status=status,
            execution_reason=reason,
            failure_kind=FailureKind.CANCELLED,
            run_id=attempt.run_id,
        )

    def _load(self, attempt: _Attempt, execution: _Execution) -> LoadResult:
        try:
            with self.amc.open_result(self.instance_id, execution.amc_id) as stream:
                if stream.parts == 0:
                    raise ResultLoadError(
                        "AMC listed no result files for the execution (an empty list of "
                        "download URLs)"
                    )
                return self.warehouse.load_week(
                    attempt.key,
                    execution.id,
                    stream,
                    amc_execution_id=execution.amc_id,
                    options=self.load_options,
                    run_id=attempt.run_id,
                )
        except ClaimLost as exc:
            message = (
                f"{self.describe(attempt.window)}: another run took the week over while this "
                f"one loaded AMC execution {execution.amc_id} ({exc}). Nothing was stored by "
                "this run; the run holding the week now decides."
            )
            self.log.warning(message)
            raise WeekSuperseded(
                message, execution_id=execution.id, amc_execution_id=execution.amc_id
            ) from None
        except Exception as exc:
            raise self._fail(
                attempt,
                execution,
                f"AMC finished, but its result could not be loaded: {exc}. The week's previous "
                "rows are untouched; materializing the week again downloads the same result (no "
                "new AMC execution).",
                kind=FailureKind.LOAD,
                error_class=LoadError,
            ) from None

    # -- failure bookkeeping -------------------------------------------------------------------

    def _fail(
        self,
        attempt: _Attempt,
        execution: _Execution,
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
        message = (
            f"{self.describe(attempt.window)} failed (execution_id {execution.id}, "
            f"amc_execution_id {amc_id or 'none'}): {reason}"
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


class _NotListed(Exception):
    """AMC may have created an execution without naming it, and does not list it (yet)."""

    def __init__(self, message: str, *, execution_id: uuid.UUID, sent_at: datetime) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.sent_at = sent_at


class _SubmitFailed(Exception):
    """AMC refused a create (or kept failing it): recorded SUBMIT_FAILED; maybe retried."""

    def __init__(self, execution_id: uuid.UUID, error: AmcError, classified: Classified) -> None:
        super().__init__(str(error))
        self.execution_id = execution_id
        self.error = error
        self.classified = classified
