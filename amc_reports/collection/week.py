"""Collect one (report, week): claim, submit or resume, poll, load, record.

Written against the AMC client and the warehouse only; every change of the week's state goes
through `warehouse.life` (`WeekLife`), the one owner of the week and execution rows. The Dagster
layer (through `batch.collect_weeks`) turns the `WeekOutcome`, or the `CollectionError`, into a
materialization or a failed run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

from amc_reports.amc import (
    AmcClient,
    AmcCreateOutcomeUnknownError,
    AmcError,
    AmcMissingExecutionIdError,
    ExecutionRecord,
    ExecutionStatus,
)
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
from amc_reports.config import InstanceConfig, ReportConfig, resolve_parameters
from amc_reports.warehouse import (
    ExecutionState,
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
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        instance: InstanceConfig | None = None,
    ) -> None:
        self.report = report
        self.instance = instance or report.instance
        self.amc = amc
        self.warehouse = warehouse
        self.life = warehouse.life
        self.log: Logger = log or logging.getLogger("amc_reports.collection")
        self.poll = poll or PollPolicy()
        self.rejection = rejection or RejectionPolicy()
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
    ) -> WeekOutcome:
        """Collect one week; raises `CollectionError` with a readable message when it cannot.

        If the run is interrupted (terminated) while an AMC execution is in flight, that execution
        is cancelled at AMC and the week marked failed before the interrupt propagates.
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
        self._claim(window, dagster_run_id, collection_id, run_is_alive)
        self._in_flight = None
        try:
            return self._collect_claimed(window, dagster_run_id)
        except CollectionError:
            raise  # already recorded on the week row
        except BaseException as exc:
            in_flight, self._in_flight = self._in_flight, None
            if in_flight is not None and not isinstance(exc, Exception):
                self._cancel_on_interrupt(window, *in_flight)
            else:
                self._release_week(window, exc)
            raise

    def _release_week(self, window: WeekWindow, exc: BaseException) -> None:
        """An unexpected error or an interrupt outside AMC's work: do not leave the week running."""
        what = "interrupted" if not isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
        message = (
            f"{self.describe(window)} stopped before finishing ({what}). Any AMC execution already "
            "submitted is resumed when the week is materialized again."
        )
        try:
            self.life.release(self.key(window.week_start), message)
        except Exception as inner:  # the original error matters more
            self.log.error(f"{message} Recording that failed too: {inner}")

    def _collect_claimed(self, window: WeekWindow, dagster_run_id: str) -> WeekOutcome:
        execution_id, amc_id, resumed = self._resume_or_submit(window, dagster_run_id)
        submissions = 0 if resumed else 1
        attempt = 1
        while True:
            record = self._wait(window, execution_id, amc_id)
            if record.status is not ExecutionStatus.REJECTED:
                break
            if attempt >= self.rejection.max_attempts:
                raise self._fail(
                    window,
                    execution_id,
                    amc_id,
                    f"AMC rejected the execution {attempt} times (too many executions over the "
                    f"same data at once): {record.failure_reason or 'no reason given'}. "
                    "Try again later.",
                )
            delay = self.rejection.delay(attempt)
            self.log.warning(
                f"AMC rejected execution {amc_id} for {self.describe(window)} "
                f"({record.failure_reason or 'no reason given'}); "
                f"submitting again in {delay:.0f} s "
                f"(attempt {attempt + 1} of {self.rejection.max_attempts})"
            )
            self._sleep(delay)
            attempt += 1
            execution_id, amc_id = self._submit(window, dagster_run_id)
            submissions += 1

        if not record.is_success:
            reason = record.failure_reason or "AMC gave no reason"
            if record.validation_errors:
                reason += " (" + "; ".join(record.validation_errors) + ")"
            raise self._fail(
                window,
                execution_id,
                amc_id,
                f"AMC execution ended {record.status.value}: {reason}. If the reason is about "
                "the query (syntax, columns, resource limits), fix the report's SQL first; "
                "otherwise materialize the week again (a new AMC execution is submitted).",
                execution_status=ExecutionState(record.status.value),
                failure_reason=reason,
            )

        load = self._load(window, execution_id, amc_id)
        self.log.info(
            f"Collected {self.describe(window)}: {load.record_count} rows from AMC execution "
            f"{amc_id} (execution_id {execution_id})"
        )
        execution = self.warehouse.get_execution(execution_id)
        return WeekOutcome(
            report=self.report.name,
            window=window,
            execution_id=execution_id,
            amc_execution_id=amc_id,
            resumed=resumed,
            record=record,
            load=load,
            submissions=submissions,
            data_gaps=list(record.data_gaps),
            instance=self.instance.alias,
            provisional=bool(execution and execution.provisional),
            final_at=self.final_at(window.week_start),
        )

    def already_collected(self, week_start: date, backfill_id: str | None) -> WeekOutcome | None:
        """The week's outcome if this same backfill already collected it, else None.

        A retried run of a batch of weeks must not pay AMC again for the weeks its predecessor
        finished: those are reused (their stored ids, counts and AMC record). A new backfill of the
        same weeks, or a manual run, collects again on purpose.
        """
        if not backfill_id:
            return None
        row = self.warehouse.get_week_by_key(self.key(week_start))
        if row is None or not row.is_completed or row.collection_id is None:
            return None
        collection = self.warehouse.get_collection(row.collection_id)
        if collection is None or collection.backfill_id != backfill_id:
            return None
        if row.execution_id is None or not row.amc_execution_id:
            return None
        execution = self.warehouse.get_execution(row.execution_id)
        record = self.amc.get_execution(self.instance_id, row.amc_execution_id)
        self.log.info(
            f"{self.describe(self.window(week_start))} was already collected by this backfill "
            f"(execution_id {row.execution_id}): reused, not submitted again"
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
            ),
            submissions=0,
            data_gaps=list(record.data_gaps),
            instance=self.instance.alias,
            provisional=row.provisional,
            final_at=self.final_at(week_start),
        )

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

    def _resume_or_submit(self, window: WeekWindow, run_id: str) -> tuple[uuid.UUID, str, bool]:
        key = self.key(window.week_start)
        existing = self.life.resumable_execution(key, self.fingerprint(window.week_start))
        if existing is not None and existing.amc_execution_id:
            self.log.info(
                f"Resuming AMC execution {existing.amc_execution_id} (execution_id "
                f"{existing.id}, status {existing.status}) for {self.describe(window)}: "
                "no new submission"
            )
            self.life.resume(key, existing.id, run_id=run_id)
            self._in_flight = (existing.id, existing.amc_execution_id)
            return existing.id, existing.amc_execution_id, True
        execution_id, amc_id = self._submit(window, run_id)
        return execution_id, amc_id, False

    def _submit(self, window: WeekWindow, run_id: str) -> tuple[uuid.UUID, str]:
        report = self.report
        final_at = self.final_at(window.week_start)
        parameters = self.parameters(window.week_start)
        execution_id = self.life.record_submission(
            self.key(window.week_start),
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
            run_id=run_id,
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
        except AmcMissingExecutionIdError as exc:
            raise self._fail(
                window,
                execution_id,
                None,
                f"AMC accepted the execution but returned no execution id ({exc}); it cannot be "
                "tracked. Check the AMC console for an execution of this window before "
                "materializing the week again.",
                execution_status=ExecutionState.SUBMIT_FAILED,
                error_class=SubmissionError,
            ) from None
        except AmcCreateOutcomeUnknownError as exc:
            raise self._fail(
                window,
                execution_id,
                None,
                f"the connection to AMC broke while submitting ({exc}); AMC may have created an "
                "execution we cannot track. Check the AMC console for an execution of this "
                "window before materializing the week again.",
                execution_status=ExecutionState.SUBMIT_FAILED,
                error_class=SubmissionError,
            ) from None
        except AmcError as exc:
            raise self._fail(
                window,
                execution_id,
                None,
                f"AMC did not accept the execution: {exc}",
                execution_status=ExecutionState.SUBMIT_FAILED,
                error_class=SubmissionError,
            ) from None
        except BaseException:
            # Interrupted (run terminated) between recording and AMC's answer: we cannot know the
            # AMC id, so the row says so instead of pretending nothing was sent.
            self._record_failure(
                window,
                execution_id,
                None,
                "interrupted while submitting to AMC; any execution AMC created is untracked",
                execution_status=ExecutionState.SUBMIT_FAILED,
            )
            raise
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
            f"{window.time_zone}"
        )
        return execution_id, amc_id

    def _wait(self, window: WeekWindow, execution_id: uuid.UUID, amc_id: str) -> ExecutionRecord:
        started = self._monotonic()
        last_status: ExecutionStatus | None = None
        while True:
            try:
                record = self.amc.get_execution(self.instance_id, amc_id)
            except AmcError as exc:
                raise self._fail(
                    window,
                    execution_id,
                    amc_id,
                    f"lost contact with AMC while waiting for the execution ({exc}). It may "
                    "still be running: materializing the week again resumes it.",
                ) from None
            if record.status is not last_status:
                self.life.progress(
                    execution_id,
                    ExecutionState(record.status.value),
                    started_at=record.start_time,
                    completed_at=record.end_time if record.is_terminal else None,
                    failure_reason=record.failure_reason,
                    data_gaps=list(record.data_gaps) or None,
                )
                self.log.info(
                    f"AMC execution {amc_id} for {self.describe(window)} is {record.status.value}"
                )
                last_status = record.status
            if record.is_terminal:
                self._in_flight = None
                return record
            self._sleep(self.poll.interval(self._monotonic() - started))

    def _cancel_on_interrupt(
        self, window: WeekWindow, execution_id: uuid.UUID, amc_id: str
    ) -> None:
        """The run was terminated while AMC works: cancel there, so nobody pays for it."""
        execution = self.warehouse.get_execution(execution_id)
        if execution is not None and execution.amc_execution_id is None:
            self.life.attach(execution_id, amc_id, submitted_at=datetime.now(UTC))
        try:
            record = self.amc.cancel_execution(self.instance_id, amc_id)
            status = ExecutionState(record.status.value)
            self.log.warning(f"Run terminated: cancelled AMC execution {amc_id}")
        except AmcError as exc:
            status = ExecutionState.CANCELLED
            self.log.warning(f"Run terminated; cancelling AMC execution {amc_id} failed: {exc}")
        self._record_failure(
            window,
            execution_id,
            amc_id,
            "cancelled because the Dagster run was terminated",
            execution_status=status,
        )

    def _load(self, window: WeekWindow, execution_id: uuid.UUID, amc_id: str) -> LoadResult:
        try:
            with self.amc.open_result(self.instance_id, amc_id) as stream:
                if stream.parts == 0:
                    raise ResultLoadError(
                        "AMC listed no result files for the execution (an empty list of "
                        "download URLs)"
                    )
                return self.warehouse.replace_week_results(
                    self.report.name,
                    window.week_start,
                    execution_id,
                    stream,
                    amc_execution_id=amc_id,
                    options=self.load_options,
                )
        except Exception as exc:
            raise self._fail(
                window,
                execution_id,
                amc_id,
                f"AMC finished, but its result could not be loaded: {exc}. The week's previous "
                "rows are untouched; materializing the week again downloads the same result (no "
                "new AMC execution).",
                error_class=LoadError,
            ) from None

    # -- failure bookkeeping -------------------------------------------------------------------

    def _fail(
        self,
        window: WeekWindow,
        execution_id: uuid.UUID,
        amc_id: str | None,
        reason: str,
        *,
        execution_status: ExecutionState | None = None,
        failure_reason: str | None = None,
        error_class: type[CollectionError] = ExecutionFailedError,
    ) -> CollectionError:
        """Record the week's failure; the error to raise. Without `execution_status` the
        execution keeps its status (it may still be running, or be loaded on the next try)."""
        message = (
            f"{self.describe(window)} failed (execution_id {execution_id}, amc_execution_id "
            f"{amc_id or 'none'}): {reason}"
        )
        self._record_failure(
            window,
            execution_id,
            amc_id,
            failure_reason or reason,
            execution_status=execution_status,
            week_message=message,
        )
        self.log.error(message)
        return error_class(message, execution_id=execution_id, amc_execution_id=amc_id)

    def _record_failure(
        self,
        window: WeekWindow,
        execution_id: uuid.UUID,
        amc_id: str | None,
        reason: str,
        *,
        execution_status: ExecutionState | None,
        week_message: str | None = None,
    ) -> None:
        self.life.fail(
            self.key(window.week_start),
            execution_id=execution_id,
            amc_execution_id=amc_id,
            message=week_message or reason,
            execution_status=execution_status,
            execution_reason=reason,
        )
