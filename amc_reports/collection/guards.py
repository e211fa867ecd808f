"""What is checked before a week's execution is submitted, and counted after it failed.

SQL that does not parse is refused before any AMC time is spent. In a backfill, a report whose
weeks keep failing with query errors trips its circuit breaker (`warehouse.breakers`): its
remaining weeks fail at once without submitting. Either way nothing is sent to AMC, and the week
is failed with why (it keeps the ids it had).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amc_reports.amc_sql import parse_amc_sql
from amc_reports.collection.outcome import CircuitBreakerOpen, CollectionError, SubmissionError
from amc_reports.config import InstanceConfig, ReportConfig
from amc_reports.warehouse import FailureKind, Warehouse, WeekKey


class SubmitGuards:
    """The checks before a submission, for one report on one instance."""

    def __init__(
        self, report: ReportConfig, instance: InstanceConfig, warehouse: Warehouse, log: Any
    ) -> None:
        self.report = report
        self.instance = instance
        self.warehouse = warehouse
        self.log = log

    def check_breaker(self, key: WeekKey, run_id: str, backfill_id: str | None) -> None:
        """In a backfill whose breaker for this report is open, the week fails at once."""
        if not backfill_id:
            return
        state = self.warehouse.breakers.tripped(backfill_id, self.report.name, self.instance.alias)
        if state is None:
            return
        message = (
            f"{key.describe()} was not submitted: the circuit breaker of backfill "
            f"{backfill_id} is open for this report after {state.consecutive_failures} "
            f"weeks in a row failed with a query error. The first: "
            f"{state.describe_first_failure()}. Fix the report's query, then backfill again."
        )
        raise self._not_submitted(key, run_id, CircuitBreakerOpen(message))

    def refuse_unparsable_sql(self, key: WeekKey, run_id: str, backfill_id: str | None) -> None:
        """SQL that cannot be a query is refused before any AMC time is spent: nothing is
        submitted, the week is failed with the syntax error and where it is."""
        if not self.report.sql:
            return  # a saved workflow: its SQL lives at AMC
        error = parse_amc_sql(self.report.sql)
        if error is None:
            return
        message = (
            f"{key.describe()} was not submitted: its SQL does not parse ({error}). Nothing was "
            f"sent to AMC; fix the query (`amc-reports check-sql {self.report.name}` shows "
            "where), then materialize the week again."
        )
        refused = self._not_submitted(
            key, run_id, SubmissionError(message, kind=FailureKind.QUERY_ERROR)
        )
        self.count(key, backfill_id, refused)
        raise refused

    def _not_submitted(self, key: WeekKey, run_id: str, error: CollectionError) -> CollectionError:
        """The week fails before anything was sent to AMC (it keeps the ids it had)."""
        self.warehouse.life.release(key, str(error), failure_kind=error.kind, run_id=run_id)
        self.log.error(str(error))
        return error

    def count(self, key: WeekKey, backfill_id: str | None, error: CollectionError) -> None:
        """A week of a backfill failed: a query error counts towards the report's breaker."""
        if not backfill_id or error.kind is not FailureKind.QUERY_ERROR:
            return
        breakers = self.warehouse.breakers
        state = self._quietly(
            lambda: breakers.record_query_error(
                backfill_id,
                key,
                message=str(error),
                execution_id=error.execution_id,
                amc_execution_id=error.amc_execution_id,
            )
        )
        if state is not None and state.tripped and state.consecutive_failures == breakers.threshold:
            error.tripped_breaker = True
            self.log.error(
                f"Circuit breaker tripped for report {self.report.name!r} on instance "
                f"{self.instance.alias!r} in backfill {backfill_id}: "
                f"{state.consecutive_failures} weeks in a row failed with a query error; its "
                f"remaining weeks fail without submitting. The first: "
                f"{state.describe_first_failure()}"
            )

    def succeeded(self, key: WeekKey, backfill_id: str | None) -> None:
        """A week of a backfill was collected: the report's breaker counts again from zero."""
        if backfill_id:
            self._quietly(lambda: self.warehouse.breakers.record_success(backfill_id, key))

    def _quietly(self, action: Callable[[], Any]) -> Any:
        return quietly(self.log, "the circuit breaker's state", action)


def quietly(log: Any, what: str, action: Callable[[], Any]) -> Any:
    """Bookkeeping that must not hide the week's own outcome: `action()`, or None after logging
    that recording `what` failed."""
    try:
        return action()
    except Exception as exc:
        log.error(f"Recording {what} failed: {exc}")
        return None
