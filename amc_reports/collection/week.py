"""Collect one (report, week): claim, resume or adopt or submit, poll, load, record.

Written against the AMC client and the warehouse only; every change of the week's state goes
through `warehouse.life` (`WeekLife`). What to do next about the execution (resume, adopt, submit,
wait, load, retry or fail) is decided by `collection.next_step`; this module carries it out. The
Dagster layer (through `batch.collect_weeks`) turns the `WeekOutcome`, or the `CollectionError`,
into a materialization or a failed run.

Never paying AMC twice: an execution an earlier attempt submitted is resumed while AMC works on it
or its result is not loaded; one AMC created without naming it to us is looked for in AMC's list
and adopted, right away and again on the next attempt. A run whose claim on the week was taken
over cannot commit its load (fencing, in the load's transaction). An execution still running past
AMC's own timeout (plus a margin) is cancelled: a stuck poll never holds a pool slot forever.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import psycopg

from amc_reports.amc import AmcApiError, AmcError, ExecutionRecord
from amc_reports.collection import next_step
from amc_reports.collection.collector_base import Attempt, Execution, Tries
from amc_reports.collection.failures import classify_contact_error
from amc_reports.collection.next_step import (
    Answered,
    CreateFailed,
    Fail,
    Load,
    NotAsked,
    NotFound,
    NotListed,
    Resume,
    Retry,
    Situation,
    Unreachable,
    Wait,
    decide,
)
from amc_reports.collection.outcome import (
    CollectionError,
    LoadError,
    SubmissionError,
    WeekBusyError,
    WeekNotFinal,
    WeekOutcome,
    WeekSuperseded,
)
from amc_reports.collection.submission import (
    NotListedError,
    SubmitFailedError,
    SubmittingCollector,
)
from amc_reports.warehouse import (
    ClaimLost,
    ExecutionState,
    FailureKind,
    LoadResult,
    ResultLoadError,
)
from amc_reports.weeks import WeekWindow


class WeekCollector(SubmittingCollector):
    """The collection procedure of one report, week after week."""

    def collect(
        self,
        week_start: date,
        *,
        dagster_run_id: str,
        collection_id: uuid.UUID | None = None,
        run_is_alive: Callable[[str], bool] | None = None,
        backfill_id: str | None = None,
        first_attempt: int = 1,
        new_execution: bool = False,
    ) -> WeekOutcome:
        """Collect one week; raises `CollectionError` with a readable message when it cannot.

        If the run is interrupted (terminated) while an AMC execution is in flight, that execution
        is cancelled at AMC and the week marked failed before the interrupt propagates.
        `backfill_id` (when the run belongs to a backfill) is the scope of the circuit breaker;
        `first_attempt` is the attempt this collection starts at (a run launched as the next
        attempt of the week: it gets the attempts left of the report's `max_attempts`, at least
        one). `new_execution`: submit a new AMC execution even if one could be resumed.
        """
        window = self.window(week_start)
        if not self.report.collects_provisional and not self.is_final(week_start):
            final_at = self.final_at(week_start)
            reason = (
                f"{self.describe(window)} is not final until {final_at.isoformat()} and the "
                "report collects final weeks only (provisional_weeks: skip): nothing submitted"
            )
            self.life.skip(self.key(week_start), reason)
            raise WeekNotFinal(reason, final_at=final_at)
        attempt = Attempt(
            window,
            self.key(week_start),
            dagster_run_id,
            backfill_id,
            first_attempt,
            new_execution,
        )
        self._claim(window, dagster_run_id, collection_id, run_is_alive)
        self._in_flight = None
        try:
            outcome = self._collect_claimed(attempt)
        except CollectionError as exc:
            self.guards.count(attempt.key, backfill_id, exc)
            raise  # already recorded on the week row
        except BaseException as exc:
            in_flight, self._in_flight = self._in_flight, None
            if in_flight is not None and not isinstance(exc, Exception):
                self._cancel_on_interrupt(attempt, *in_flight)
            else:
                self._release_week(attempt, exc)
            raise
        self.guards.succeeded(attempt.key, backfill_id)
        return outcome

    def _collect_claimed(self, attempt: Attempt) -> WeekOutcome:
        tries = Tries(attempt=min(max(1, attempt.first_attempt), self.policy.max_attempts))
        execution = self._resume_adopt_or_submit(attempt, tries)
        while True:
            record = self._wait(attempt, tries, execution)
            if record is not None:
                break
            execution = self._submit(attempt, tries)

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

    def _resume_adopt_or_submit(self, attempt: Attempt, tries: Tries) -> Execution:
        """An execution an earlier attempt submitted (resumed), one AMC created without naming
        it (adopted), else a new submission: as `next_step` decides."""
        key = attempt.key
        fingerprint = self.fingerprint(attempt.window.week_start)
        latest = self.life.latest_execution(key, fingerprint, amc_instance_id=self.instance_id)
        step = decide(
            Situation.of(NotAsked(), None, latest, new_execution=attempt.new_execution),
            self.policy,
        )
        if isinstance(step, Resume) and latest is not None and latest.amc_execution_id:
            self.log.info(
                f"Resuming AMC execution {latest.amc_execution_id} (execution_id {latest.id}, "
                f"status {latest.status}) for {self.describe(attempt.window)}: {step.why}"
            )
            self.life.resume(key, latest.id, run_id=attempt.run_id)
            self._in_flight = (latest.id, latest.amc_execution_id)
            return Execution(
                latest.id, latest.amc_execution_id, True, load_failures=latest.load_failures
            )
        unloaded = latest is not None and latest.status is ExecutionState.SUCCEEDED
        if latest is not None and unloaded and not latest.is_loaded:
            self.life.give_up(latest.id, f"not loaded: {step.why}")
            self.log.warning(
                f"AMC execution {latest.amc_execution_id} of {self.describe(attempt.window)} is "
                f"not resumed: {step.why}"
            )
        for untracked in self.life.untracked_executions(
            key, fingerprint, amc_instance_id=self.instance_id
        ):
            found = self._look_for_untracked(attempt, untracked.id, untracked.created_at)
            if found is not None:
                self.life.resume(key, untracked.id, run_id=attempt.run_id)
                return Execution(untracked.id, found, resumed=True, adopted=True)
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

    def _submit(self, attempt: Attempt, tries: Tries) -> Execution:
        """Submit a new execution (if the guards allow). A create AMC fails, or one AMC accepted
        without naming the execution and does not list, is retried as `next_step` decides."""
        self.guards.refuse_unparsable_sql(attempt.key, attempt.run_id, attempt.backfill_id)
        while True:
            self.guards.check_breaker(attempt.key, attempt.run_id, attempt.backfill_id)
            sent_at: datetime | None = None  # AMC may have created it unnamed: look for it
            try:
                return self._submit_once(attempt, tries)
            except SubmitFailedError as failed:
                said: next_step.AmcSaid = CreateFailed(str(failed.error), failed.classified)
                execution_id = failed.execution_id
            except NotListedError as unlisted:
                said = NotListed(str(unlisted))
                execution_id, sent_at = unlisted.execution_id, unlisted.sent_at
            step = decide(self._situation(said, tries), self.policy)
            if isinstance(step, Fail):
                raise self._fail(
                    attempt,
                    Execution(execution_id, ""),
                    step.message,
                    kind=step.kind,
                    error_class=SubmissionError,
                )
            assert isinstance(step, Retry)
            if sent_at is None:  # AMC failed the create: submit again
                self._back_off(attempt, tries, f"{step.why}; submitting again", step.delay)
                continue
            what = f"{said.what}, and AMC does not list it yet; looking again"
            self._back_off(attempt, tries, what, step.delay)
            found = self._look_for_untracked(attempt, execution_id, sent_at)
            if found is not None:
                return Execution(execution_id, found, adopted=True)
            self.life.mark_lost(
                execution_id,
                "AMC still lists no execution of this window and query created since it was "
                "sent: assumed never created",
            )
            self.log.warning(
                f"AMC still does not list the execution of {self.describe(attempt.window)}: "
                "assumed never created; submitting anew"
            )

    def _wait(self, attempt: Attempt, tries: Tries, execution: Execution) -> ExecutionRecord | None:
        """Poll AMC until `next_step` says more than wait: the record to load (AMC succeeded),
        None to submit again (after the backoff); a failure raises. Past the wait limit the
        execution is given up (cancelled)."""
        started = self._monotonic()
        limit = self.poll.wait_limit(self.report.timeout_seconds)
        last_status = None
        while True:
            record = None
            try:
                record = self.amc.get_execution(self.instance_id, execution.amc_id)
                said: next_step.AmcSaid = Answered(record)
            except AmcApiError as exc:
                lost = exc.status_code == 404
                said = NotFound(f"AMC answered HTTP 404: {exc.amc_message}") if lost else None
                said = said or Unreachable(str(exc), classify_contact_error(exc).kind)
            except AmcError as exc:
                said = Unreachable(str(exc), classify_contact_error(exc).kind)
            if record is not None and record.status is not last_status:
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
            waited = self._monotonic() - started
            situation = self._situation(said, tries, load_failures=execution.load_failures)
            step = decide(dataclasses.replace(situation, waited_seconds=waited), self.policy)
            if isinstance(step, Wait):
                if waited > limit:
                    raise self._give_up(attempt, execution, waited)
                self._sleep(step.delay)
                continue
            if not isinstance(said, Unreachable):
                self._in_flight = None  # AMC ended it (or lost it)
            if isinstance(said, NotFound):
                self.life.mark_lost(execution.id, said.message)
            if isinstance(step, Load) and record is not None:
                return record
            if isinstance(step, Retry):
                if record is not None:
                    state = ExecutionState(record.status.value)
                    self.life.progress(execution.id, state, failure_kind=step.kind)
                self._back_off(attempt, tries, f"{step.why}; submitting again", step.delay)
                return None
            if isinstance(step, Fail):
                raise self._fail(
                    attempt,
                    execution,
                    step.message,
                    kind=step.kind,
                    execution_status=step.status,
                    failure_reason=step.reason,
                )
            # Leave: AMC could not be asked; the execution stays resumable.
            kind = said.kind if isinstance(said, Unreachable) else FailureKind.TRANSIENT
            raise self._fail(attempt, execution, step.why, kind=kind)

    def _give_up(self, attempt: Attempt, execution: Execution, waited: float) -> CollectionError:
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

    def _cancel_on_interrupt(self, attempt: Attempt, execution_id: uuid.UUID, amc_id: str) -> None:
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

    def _load(self, attempt: Attempt, execution: Execution) -> LoadResult:
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
            # A database gone away is not the result's fault: it does not count against it.
            failures = execution.load_failures
            if not isinstance(exc, psycopg.OperationalError):
                failures = self._quietly(lambda: self.life.count_load_failure(execution.id))
            step = next_step.load_failed(failures or execution.load_failures, self.policy, exc)
            raise self._fail(
                attempt, execution, step.message, kind=step.kind, error_class=LoadError
            ) from None
