"""The circuit breakers of backfills: the one writer of `circuit_breakers`.

One breaker per (backfill, report, AMC instance). Each week of the backfill that fails with a query
error (the query itself is wrong: syntax, unknown columns, resource limits) adds one to the
breaker's streak; a week that completes resets it. Once the streak reaches the threshold (3) the
breaker is tripped for good (for that backfill): its remaining weeks fail at once, without
submitting anything to AMC, naming the first failure of the streak. Another backfill, a scheduled
run or a manual materialization starts with a breaker of its own (or none).

"Consecutive" is in the order the failures are recorded: weeks of a backfill run concurrently, so
three query errors with no completed week in between trip it, whichever weeks they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from amc_reports.amc.redact import cap_error_text
from amc_reports.warehouse.rows import WeekKey

DEFAULT_THRESHOLD = 3

_COLUMNS = (
    "backfill_id, report, amc_instance, consecutive_failures, first_week_start_date,"
    " first_message, first_execution_id, first_amc_execution_id, tripped_at"
)


@dataclass(frozen=True)
class BreakerState:
    """A breaker: its streak of query errors, the first of them, and when it tripped."""

    backfill_id: str
    report: str
    amc_instance: str
    consecutive_failures: int
    first_week_start_date: date | None
    first_message: str | None
    first_execution_id: uuid.UUID | None
    first_amc_execution_id: str | None
    tripped_at: datetime | None

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None

    def describe_first_failure(self) -> str:
        week = self.first_week_start_date.isoformat() if self.first_week_start_date else "?"
        return (
            f"week {week} (execution_id {self.first_execution_id or 'none'}, amc_execution_id "
            f"{self.first_amc_execution_id or 'none'}): {self.first_message or 'no message'}"
        )


class CircuitBreakers:
    """Record query errors and completed weeks of backfills; tell whether a breaker is open."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection], *, threshold: int = DEFAULT_THRESHOLD
    ) -> None:
        if threshold < 1:
            raise ValueError("the circuit breaker threshold must be at least 1")
        self._connect = connect
        self.threshold = threshold

    def record_query_error(
        self,
        backfill_id: str,
        key: WeekKey,
        *,
        message: str,
        execution_id: uuid.UUID | None,
        amc_execution_id: str | None,
    ) -> BreakerState:
        """One more week of the backfill failed with a query error; the breaker after it."""
        with self._connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO circuit_breakers AS b (backfill_id, report, amc_instance,"
                " consecutive_failures, first_week_start_date, first_message,"
                " first_execution_id, first_amc_execution_id, tripped_at)"
                " VALUES (%(backfill)s, %(report)s, %(instance)s, 1, %(week)s, %(message)s,"
                " %(execution)s, %(amc)s,"
                " CASE WHEN 1 >= %(threshold)s THEN clock_timestamp() END)"
                " ON CONFLICT (backfill_id, report, amc_instance) DO UPDATE SET"
                " consecutive_failures = b.consecutive_failures + 1,"
                " first_week_start_date = CASE WHEN b.consecutive_failures = 0"
                "   THEN EXCLUDED.first_week_start_date ELSE b.first_week_start_date END,"
                " first_message = CASE WHEN b.consecutive_failures = 0"
                "   THEN EXCLUDED.first_message ELSE b.first_message END,"
                " first_execution_id = CASE WHEN b.consecutive_failures = 0"
                "   THEN EXCLUDED.first_execution_id ELSE b.first_execution_id END,"
                " first_amc_execution_id = CASE WHEN b.consecutive_failures = 0"
                "   THEN EXCLUDED.first_amc_execution_id ELSE b.first_amc_execution_id END,"
                " tripped_at = COALESCE(b.tripped_at, CASE"
                "   WHEN b.consecutive_failures + 1 >= %(threshold)s THEN clock_timestamp() END)"
                " RETURNING " + _COLUMNS,
                {
                    "backfill": backfill_id,
                    "report": key.report,
                    "instance": key.instance,
                    "week": key.week_start,
                    "message": cap_error_text(message),
                    "execution": execution_id,
                    "amc": amc_execution_id,
                    "threshold": self.threshold,
                },
            )
            return _state(cur.fetchone())

    def record_success(self, backfill_id: str, key: WeekKey) -> None:
        """A week of the backfill completed: the streak starts again (a tripped breaker stays)."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE circuit_breakers SET consecutive_failures = 0,"
                " first_week_start_date = NULL, first_message = NULL, first_execution_id = NULL,"
                " first_amc_execution_id = NULL"
                " WHERE backfill_id = %s AND report = %s AND amc_instance = %s"
                " AND tripped_at IS NULL AND consecutive_failures > 0",
                (backfill_id, key.report, key.instance),
            )

    def state(self, backfill_id: str, report: str, instance: str) -> BreakerState | None:
        with self._connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT " + _COLUMNS + " FROM circuit_breakers"
                " WHERE backfill_id = %s AND report = %s AND amc_instance = %s",
                (backfill_id, report, instance),
            )
            row = cur.fetchone()
        return None if row is None else _state(row)

    def tripped(self, backfill_id: str, report: str, instance: str) -> BreakerState | None:
        """The breaker if it is tripped, else None."""
        state = self.state(backfill_id, report, instance)
        return state if state is not None and state.tripped else None


def _state(row: dict[str, Any] | None) -> BreakerState:
    assert row is not None
    return BreakerState(**row)
