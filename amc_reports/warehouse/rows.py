"""Typed rows of the control tables, and the status enums of weeks, executions and collections.

The enums are `StrEnum`s: they compare equal to the strings stored in Postgres (and to the CHECK
constraints of the tables), so `row.status == "completed"` and `row.status is WeekStatus.COMPLETED`
both hold. Which status may follow which is decided in one place: `week_life`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from psycopg import sql

from amc_reports.amc.models import ExecutionStatus
from amc_reports.weeks import week_end_of


class WeekStatus(StrEnum):
    """`report_data_weeks.status`: where one (report, week) stands."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ExecutionState(StrEnum):
    """`workflow_executions.status`: AMC's own statuses (`ExecutionStatus`), and ours before
    and around the submission."""

    CREATED = "CREATED"  # recorded, about to be submitted
    SUBMIT_FAILED = "SUBMIT_FAILED"  # AMC did not accept it
    # AMC may have created it but never named it to us (a create answered without an id, a
    # connection cut after sending): the next attempt looks for it in AMC's list and adopts it.
    UNTRACKED = "UNTRACKED"
    LOST = "LOST"  # AMC no longer knows it (HTTP 404), or an untracked one it never listed
    PENDING = ExecutionStatus.PENDING.value
    RUNNING = ExecutionStatus.RUNNING.value
    PUBLISHING = ExecutionStatus.PUBLISHING.value
    SUCCEEDED = ExecutionStatus.SUCCEEDED.value
    FAILED = ExecutionStatus.FAILED.value
    CANCELLED = ExecutionStatus.CANCELLED.value
    REJECTED = ExecutionStatus.REJECTED.value

    @classmethod
    def of(cls, status: ExecutionStatus) -> ExecutionState:
        """The stored state of what AMC says."""
        return cls(status.value)

    @property
    def in_flight(self) -> bool:
        """AMC is still working on it."""
        return self in IN_FLIGHT


IN_FLIGHT = frozenset({ExecutionState.PENDING, ExecutionState.RUNNING, ExecutionState.PUBLISHING})


def open_execution_condition() -> sql.Composable:
    """SQL: the execution is open (AMC still works on it, or it SUCCEEDED and was never loaded),
    from `IN_FLIGHT`: the one definition of open states."""
    in_flight = sql.SQL(", ").join(sql.Literal(state.value) for state in sorted(IN_FLIGHT))
    return sql.SQL("(status IN ({}) OR (status = {} AND row_count IS NULL))").format(
        in_flight, sql.Literal(ExecutionState.SUCCEEDED.value)
    )


class FailureKind(StrEnum):
    """Why a week (or one of its executions) failed: stored on both rows (`failure_kind`) and
    given to Dagster as the failure's `amc_reports/failure_kind` metadata, so that alerts and
    people can tell a broken query from an AMC hiccup without reading the message."""

    QUERY_ERROR = "query_error"  # the query is wrong (syntax, columns, resource limits): fix it
    TRANSIENT = "transient"  # AMC failed on its side (internal error, timeout), every attempt
    REJECTED = "rejected"  # AMC rejected it (too many executions over the same data), every time
    LOST = "lost"  # AMC no longer knows the execution (HTTP 404)
    UNTRACKED = "untracked"  # AMC accepted a create without naming it, and does not list it yet
    CIRCUIT_BREAKER = "circuit_breaker"  # not submitted: the backfill's breaker is open
    TIMEOUT = "timeout"  # AMC still ran it past its own execution timeout: cancelled
    CANCELLED = "cancelled"  # cancelled (the run was terminated, or someone at AMC)
    LOAD = "load_error"  # AMC succeeded but its result could not be stored
    REFUSED = "refused"  # AMC refused the request (a 4xx other than a query error)
    CREDENTIALS = "credentials"  # Login with Amazon refused the credentials: fix them
    SUPERSEDED = "superseded"  # another run took the week over: this run stored nothing
    BUSY = "busy"  # another live run holds the week: nothing submitted
    INTERRUPTED = "interrupted"  # the attempt stopped (an unexpected error, an interrupt)


class CollectionType(StrEnum):
    """How the Dagster run collecting weeks was started."""

    BACKFILL = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class CollectionStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


E = TypeVar("E", bound=StrEnum)


def parse_status(enum: type[E], value: object, what: str) -> E:
    """`value` as a member of `enum`, or a ValueError naming the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValueError(f"unknown {what} status {value!r}; allowed: {allowed}") from None


@dataclass(frozen=True)
class WeekKey:
    """One week of a report on one AMC instance (its alias in the reports config): the key of a
    `report_data_weeks` row, of a results partition and of a Dagster asset partition."""

    report: str
    instance: str
    week_start: date

    @property
    def week_end(self) -> date:
        return week_end_of(self.week_start)

    def describe(self) -> str:
        return (
            f"report {self.report!r} on instance {self.instance!r}, "
            f"week {self.week_start.isoformat()}"
        )

    @property
    def params(self) -> tuple[str, str, date]:
        """The values of `WEEK_WHERE`."""
        return (self.report, self.instance, self.week_start)


# The rows of one week (`WeekKey.params`), in any table that has a week's three key columns.
WEEK_WHERE = "report = %s AND amc_instance = %s AND week_start_date = %s"


@dataclass(frozen=True)
class _OfAWeek:
    """What a week's row and each of its executions' rows have in common."""

    id: uuid.UUID
    report: str
    amc_instance: str
    week_start_date: date
    week_end_date: date
    created_at: datetime
    updated_at: datetime
    provisional: bool
    final_at: datetime | None

    @property
    def key(self) -> WeekKey:
        return WeekKey(self.report, self.amc_instance, self.week_start_date)


@dataclass(frozen=True)
class WeekRow(_OfAWeek):
    """A `report_data_weeks` row."""

    status: WeekStatus
    execution_id: uuid.UUID | None
    amc_execution_id: str | None
    record_count: int | None
    data_checksum: str | None
    execution_time_seconds: float | None
    result_columns: list[tuple[str, str]] | None
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    collection_id: uuid.UUID | None
    dagster_run_id: str | None
    failure_kind: FailureKind | None
    # The AMC its data came from ('live', 'sandbox'; 'unknown' before it was recorded).
    amc_source: str | None = None
    amc_api_host: str | None = None

    @property
    def is_completed(self) -> bool:
        return self.status is WeekStatus.COMPLETED

    @property
    def holder(self) -> str | None:
        """The run holding the week's claim (running, for that run), else None."""
        running = self.status is WeekStatus.RUNNING
        return (self.dagster_run_id or None) if running else None


@dataclass(frozen=True)
class ExecutionRow(_OfAWeek):
    """A `workflow_executions` row (`id` is our execution_id)."""

    amc_instance_id: str
    amc_execution_id: str | None
    status: ExecutionState
    time_window_start: datetime
    time_window_end: datetime
    time_zone: str
    sql_hash: str
    parameters: dict[str, Any]
    submitted_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    row_count: int | None
    bytes: int | None
    failure_reason: str | None
    data_gaps: list[Any] | None
    dagster_run_id: str | None
    attempt: int  # which attempt of its collection submitted it (1 = the first)
    failure_kind: FailureKind | None
    load_failures: int  # how often its result failed to load
    # The AMC it ran on ('live', 'sandbox'; 'unknown' before it was recorded) and its API host.
    amc_source: str | None = None
    amc_api_host: str | None = None

    @property
    def is_loaded(self) -> bool:
        """Its result has been stored (the load sets the row count)."""
        return self.row_count is not None


@dataclass(frozen=True)
class CollectionRow:
    """A `report_data_collections` row."""

    id: uuid.UUID
    report: str
    amc_instance: str
    collection_type: CollectionType
    dagster_run_id: str
    backfill_id: str | None
    weeks: list[date]
    # Dagster's root run of `dagster_run_id` (itself unless it re-executes another run).
    root_run_id: str
    weeks_total: int
    weeks_completed: int
    weeks_failed: int
    status: CollectionStatus
    started_at: datetime
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class VersionState(StrEnum):
    """`week_versions.state`: where a stored version of a week's rows is."""

    CURRENT = "current"  # the week's rows in the results table
    HISTORY = "history"  # replaced by a re-collection, kept in the history schema
    DROPPED = "dropped"  # replaced, and removed by the history retention


@dataclass(frozen=True)
class VersionRow:
    """A `week_versions` row: one stored version of a week's rows (one per execution)."""

    execution_id: uuid.UUID
    report: str
    amc_instance: str
    week_start_date: date
    state: VersionState
    table_schema: str
    table_name: str
    row_count: int
    sums: dict[str, Any]
    provisional: bool
    previous_execution_id: uuid.UUID | None
    restatement: dict[str, Any] | None
    loaded_at: datetime
    replaced_at: datetime | None
    replaced_by: uuid.UUID | None

    @property
    def key(self) -> WeekKey:
        return WeekKey(self.report, self.amc_instance, self.week_start_date)


def columns_of(row_type: type, table_alias: str | None = None) -> sql.Composable:
    """The SELECT (or RETURNING) list of a row type's columns, qualified by `table_alias`."""
    prefix = () if table_alias is None else (table_alias,)
    return sql.SQL(", ").join(sql.Identifier(*prefix, f.name) for f in fields(row_type))


WEEK_COLUMNS = columns_of(WeekRow)
EXECUTION_COLUMNS = columns_of(ExecutionRow)
COLLECTION_COLUMNS = columns_of(CollectionRow)
VERSION_COLUMNS = columns_of(VersionRow)


R = TypeVar("R")
FetchedRow = dict[str, Any] | None


def _row_reader(
    row_type: type[R], **convert: Callable[[Any], Any]
) -> Callable[[FetchedRow], R | None]:
    """Reads a fetched row (a dict, or None for no row) as `row_type`, each column named in
    `convert` passed through its function."""

    def read(row: FetchedRow) -> R | None:
        if row is None:
            return None
        return row_type(**{**row, **{name: to(row[name]) for name, to in convert.items()}})

    return read


def _or_none(to: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else to(value)


def _column_pairs(columns: list[list[str]]) -> list[tuple[str, ...]]:
    return [tuple(c) for c in columns]


week_row = _row_reader(
    WeekRow,
    status=WeekStatus,
    result_columns=_or_none(_column_pairs),
    failure_kind=_or_none(FailureKind),
)
execution_row = _row_reader(ExecutionRow, status=ExecutionState, failure_kind=_or_none(FailureKind))
collection_row = _row_reader(CollectionRow, collection_type=CollectionType, status=CollectionStatus)
version_row = _row_reader(VersionRow, state=VersionState)
