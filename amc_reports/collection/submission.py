"""Sending a week's execution to AMC, and adopting one AMC created without naming it to us.

A create answered without an execution id, or a connection cut after the request was sent, may
still have started an execution at AMC: it is looked for in AMC's list (`adoption`) and adopted,
a few times right away and again on the next attempt, rather than paid for twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from amc_reports.amc import AmcCreateOutcomeUnknownError, AmcError, AmcMissingExecutionIdError
from amc_reports.collection.adoption import Expected, find_untracked
from amc_reports.collection.collector_base import Attempt, CollectorBase, Execution, Tries
from amc_reports.collection.failures import Classified, classify_request_error
from amc_reports.collection.outcome import SubmissionError
from amc_reports.warehouse import ExecutionState, FailureKind, Submission


class SubmittingCollector(CollectorBase):
    """Submit one execution of the week, or adopt the one AMC created without naming it."""

    def _look_for_untracked(
        self, attempt: Attempt, execution_id: uuid.UUID, sent_at: datetime
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
                Execution(execution_id, ""),
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

    def _submit_once(self, attempt: Attempt, tries: Tries) -> Execution:
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
                amc_source=self.amc.config.source,
                amc_api_host=self.amc.config.api_host,
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
            classified = classify_request_error(exc)
            self.life.progress(
                execution_id,
                ExecutionState.SUBMIT_FAILED,
                completed_at=datetime.now(UTC),
                failure_reason=str(exc),
                failure_kind=classified.kind,
            )
            raise SubmitFailedError(execution_id, exc, classified) from None
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
        return Execution(execution_id, amc_id)

    def _adopt_now(self, attempt: Attempt, execution_id: uuid.UUID, exc: AmcError) -> Execution:
        """AMC accepted the create but did not name the execution (or the connection broke after
        sending): look for it in AMC's list, a few times (AMC may list it a moment later)."""
        if isinstance(exc, AmcMissingExecutionIdError):
            what = "AMC accepted the execution but returned no execution id"
        else:
            what = "the connection to AMC broke after the request was sent"
        sent_at = self.life.mark_untracked(execution_id, f"{what}: {exc}").created_at
        self.log.warning(f"{what} for {self.describe(attempt.window)}; looking for it at AMC")
        for lookup in range(self.adoption_lookups):
            if lookup:
                self._sleep(self.adoption_interval_seconds)
            found = self._look_for_untracked(attempt, execution_id, sent_at)
            if found is not None:
                return Execution(execution_id, found, adopted=True)
        raise NotListedError(f"{what} ({exc})", execution_id=execution_id, sent_at=sent_at)


class NotListedError(Exception):
    """AMC may have created an execution without naming it, and does not list it (yet)."""

    def __init__(self, message: str, *, execution_id: uuid.UUID, sent_at: datetime) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.sent_at = sent_at  # when it was recorded, before it was sent: AMC created it after


class SubmitFailedError(Exception):
    """AMC refused a create (or kept failing it): recorded SUBMIT_FAILED; maybe retried."""

    def __init__(self, execution_id: uuid.UUID, error: AmcError, classified: Classified) -> None:
        super().__init__(str(error))
        self.execution_id = execution_id
        self.error = error
        self.classified = classified
