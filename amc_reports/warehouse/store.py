"""The warehouse: execution tracking tables and the per-report results tables.

Every method opens its own connection (thread-safe, no shared state beyond the URL); every write of
one week's outcome is one transaction. Control tables live in the connection's default schema
(`public`), results in `results_schema` (default `amc_results`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, BinaryIO

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from amc_reports.warehouse import results
from amc_reports.warehouse.connection import open_connection, resolve_database_url
from amc_reports.warehouse.identifiers import table_name_for_report
from amc_reports.warehouse.loading import LoadResult, replace_week
from amc_reports.warehouse.migrate import apply_migrations

_log = logging.getLogger(__name__)

WEEK_STATUSES = ("pending", "running", "completed", "failed", "skipped")
EXECUTION_STATUSES = (
    "CREATED",
    "PENDING",
    "RUNNING",
    "PUBLISHING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "REJECTED",
    "SUBMIT_FAILED",
)
IN_FLIGHT_STATUSES = ("PENDING", "RUNNING", "PUBLISHING")
COLLECTION_TYPES = ("backfill", "scheduled", "manual")
COLLECTION_STATUSES = ("running", "completed", "partial", "failed", "cancelled")
DEFAULT_RESULTS_SCHEMA = "amc_results"

__all__ = [
    "ClaimResult",
    "CollectionRow",
    "ExecutionRow",
    "LoadResult",
    "Warehouse",
    "WeekRow",
]


@dataclass(frozen=True)
class WeekRow:
    """A `report_data_weeks` row."""

    id: uuid.UUID
    report: str
    week_start_date: date
    week_end_date: date
    status: str
    execution_id: uuid.UUID | None
    amc_execution_id: str | None
    record_count: int | None
    data_checksum: str | None
    execution_time_seconds: float | None
    result_columns: list[tuple[str, str]] | None
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    collection_id: uuid.UUID | None
    dagster_run_id: str | None


@dataclass(frozen=True)
class ExecutionRow:
    """A `workflow_executions` row (`id` is our execution_id)."""

    id: uuid.UUID
    report: str
    week_start_date: date
    week_end_date: date
    amc_instance_id: str
    amc_execution_id: str | None
    status: str
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
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CollectionRow:
    """A `report_data_collections` row."""

    id: uuid.UUID
    report: str
    collection_type: str
    dagster_run_id: str
    backfill_id: str | None
    weeks: list[date]
    weeks_total: int
    weeks_completed: int
    weeks_failed: int
    status: str
    started_at: datetime
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ClaimResult:
    """What `claim_week` did: `claimed`, else who holds the week."""

    claimed: bool
    holder_run_id: str | None = None
    previous: WeekRow | None = None
    week: WeekRow | None = None


def _columns_of(row_type: type) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(f.name) for f in fields(row_type))


_WEEK_COLUMNS = _columns_of(WeekRow)
_EXECUTION_COLUMNS = _columns_of(ExecutionRow)
_COLLECTION_COLUMNS = _columns_of(CollectionRow)


def _week(row: dict[str, Any] | None) -> WeekRow | None:
    if row is None:
        return None
    columns = row["result_columns"]
    return WeekRow(
        **{
            **row,
            "result_columns": None if columns is None else [tuple(c) for c in columns],
        }
    )


def _execution(row: dict[str, Any] | None) -> ExecutionRow | None:
    return None if row is None else ExecutionRow(**row)


def _naive(value: datetime | str) -> datetime | str:
    """AMC time windows are wall-clock times in the report's zone: stored without a zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _check_status(status: str, allowed: tuple[str, ...], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"unknown {what} status {status!r}; allowed: {', '.join(allowed)}")


class Warehouse:
    """Postgres storage of executions, weeks, collections and results."""

    _migrated: set[tuple[str, str]] = set()
    _migrated_lock = threading.Lock()

    def __init__(self, database_url: str, *, results_schema: str = DEFAULT_RESULTS_SCHEMA) -> None:
        if not results_schema:
            raise ValueError("results_schema must not be empty")
        self.database_url = database_url
        self.results_schema = results_schema

    def __repr__(self) -> str:
        from amc_reports.warehouse.connection import mask_url

        return f"Warehouse({mask_url(self.database_url)!r}, results_schema={self.results_schema!r})"

    @classmethod
    def from_env(cls) -> Warehouse:
        """The warehouse of `AMC_REPORTS_DATABASE_URL` (or the embedded server), migrated once."""
        warehouse = cls(resolve_database_url())
        key = (warehouse.database_url, warehouse.results_schema)
        with cls._migrated_lock:
            if key not in cls._migrated:
                warehouse.migrate()
                cls._migrated.add(key)
        return warehouse

    # -- plumbing ------------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        """A new connection (autocommit off); `DatabaseConfigError` when unreachable."""
        return open_connection(self.database_url)

    def migrate(self) -> list[str]:
        """Apply pending migrations (idempotent, safe concurrently); names of those applied now."""
        with self.connect() as conn:
            applied = apply_migrations(conn, results_schema=self.results_schema)
        if applied:
            _log.info("applied migrations: %s", ", ".join(applied))
        return applied

    def results_table_name(self, report: str) -> str:
        """The unquoted table name of a report's results (truncated with a hash when long)."""
        return table_name_for_report(report)

    def results_table(self, report: str) -> str:
        """The quoted, schema-qualified results table, e.g. `"amc_results"."weekly_campaign"`."""
        return self._results_ident(report).as_string()

    def _results_ident(self, report: str) -> sql.Identifier:
        return sql.Identifier(self.results_schema, table_name_for_report(report))

    # -- executions ----------------------------------------------------------------------------

    def record_execution(
        self,
        *,
        report: str,
        week_start: date,
        week_end: date,
        amc_instance_id: str,
        time_window_start: datetime | str,
        time_window_end: datetime | str,
        time_zone: str,
        sql_hash: str,
        parameters: dict[str, Any],
        dagster_run_id: str | None,
    ) -> uuid.UUID:
        """Record an execution about to be submitted (status CREATED); returns its execution_id."""
        with self.connect() as conn:
            row = conn.execute(
                "INSERT INTO workflow_executions (report, week_start_date, week_end_date,"
                " amc_instance_id, status, time_window_start, time_window_end, time_zone, sql_hash,"
                " parameters, dagster_run_id)"
                " VALUES (%s, %s, %s, %s, 'CREATED', %s::timestamp, %s::timestamp, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    report,
                    week_start,
                    week_end,
                    amc_instance_id,
                    _naive(time_window_start),
                    _naive(time_window_end),
                    time_zone,
                    sql_hash,
                    Jsonb(parameters or {}),
                    dagster_run_id,
                ),
            ).fetchone()
        assert row is not None
        return row[0]

    def attach_amc_execution(
        self,
        execution_id: uuid.UUID,
        amc_execution_id: str,
        *,
        submitted_at: datetime,
        status: str = "PENDING",
    ) -> None:
        """AMC accepted the execution: record its id on the execution and on the week, at once."""
        _check_status(status, EXECUTION_STATUSES, "execution")
        if not amc_execution_id:
            raise ValueError("amc_execution_id must not be empty")
        with self.connect() as conn:
            try:
                row = conn.execute(
                    "UPDATE workflow_executions SET amc_execution_id = %s, status = %s,"
                    " submitted_at = %s WHERE id = %s"
                    " RETURNING report, week_start_date, week_end_date",
                    (amc_execution_id, status, submitted_at, execution_id),
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise ValueError(
                    f"amc_execution_id {amc_execution_id} is already recorded for another execution"
                ) from None
            if row is None:
                raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
            report, week_start, week_end = row
            conn.execute(
                "INSERT INTO report_data_weeks (report, week_start_date, week_end_date, status,"
                " started_at, execution_id, amc_execution_id)"
                " VALUES (%s, %s, %s, 'running', clock_timestamp(), %s, %s)"
                " ON CONFLICT (report, week_start_date) DO UPDATE SET"
                " execution_id = EXCLUDED.execution_id,"
                " amc_execution_id = EXCLUDED.amc_execution_id",
                (report, week_start, week_end, execution_id, amc_execution_id),
            )

    def update_execution(
        self,
        execution_id: uuid.UUID,
        *,
        status: str,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
        failure_reason: str | None = None,
        row_count: int | None = None,
        bytes: int | None = None,  # noqa: A002 - the column's name
        data_gaps: list[Any] | None = None,
    ) -> None:
        """Set the status; other fields only when given (None keeps what is stored)."""
        _check_status(status, EXECUTION_STATUSES, "execution")
        with self.connect() as conn:
            cur = conn.execute(
                "UPDATE workflow_executions SET status = %s,"
                " started_at = COALESCE(%s, started_at),"
                " completed_at = COALESCE(%s, completed_at),"
                " failure_reason = COALESCE(%s, failure_reason),"
                " row_count = COALESCE(%s, row_count),"
                " bytes = COALESCE(%s, bytes),"
                " data_gaps = COALESCE(%s, data_gaps)"
                " WHERE id = %s",
                (
                    status,
                    started_at,
                    completed_at,
                    failure_reason,
                    row_count,
                    bytes,
                    Jsonb(data_gaps) if data_gaps is not None else None,
                    execution_id,
                ),
            )
            if cur.rowcount == 0:
                raise ValueError(f"execution_id {execution_id} has no workflow_executions row")

    def get_execution(self, execution_id: uuid.UUID) -> ExecutionRow | None:
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM workflow_executions WHERE id = %s").format(
                    _EXECUTION_COLUMNS
                ),
                (execution_id,),
            )
            return _execution(cur.fetchone())

    def list_executions(self, report: str, week_start: date) -> list[ExecutionRow]:
        """Every execution of the week, oldest first."""
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM workflow_executions WHERE report = %s AND week_start_date = %s"
                    " ORDER BY created_at, id"
                ).format(_EXECUTION_COLUMNS),
                (report, week_start),
            )
            return [ExecutionRow(**row) for row in cur.fetchall()]

    def find_resumable_execution(
        self, report: str, week_start: date, sql_hash: str
    ) -> ExecutionRow | None:
        """The execution a new attempt at the week should resume instead of submitting, if any.

        Looks at the newest execution of (report, week, sql_hash) that AMC accepted (has an
        amc_execution_id): it is resumable while AMC still works on it (PENDING, RUNNING,
        PUBLISHING), or when it SUCCEEDED but its result was never loaded (row_count unset).
        Anything else (failed, cancelled, or already loaded) means: submit a new one.
        """
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM workflow_executions"
                    " WHERE report = %s AND week_start_date = %s AND sql_hash = %s"
                    " AND amc_execution_id IS NOT NULL"
                    " ORDER BY created_at DESC, id DESC LIMIT 1"
                ).format(_EXECUTION_COLUMNS),
                (report, week_start, sql_hash),
            )
            newest = _execution(cur.fetchone())
            if newest is None:
                return None
            if newest.status in IN_FLIGHT_STATUSES:
                return newest
            if newest.status != "SUCCEEDED":
                return None
        # SUCCEEDED: resumable until its result has been loaded (the load sets row_count). The
        # week row's status says nothing here: the attempt asking has already claimed it.
        return newest if newest.row_count is None else None

    # -- weeks ---------------------------------------------------------------------------------

    def claim_week(
        self,
        report: str,
        week_start: date,
        week_end: date,
        *,
        dagster_run_id: str,
        collection_id: uuid.UUID | None = None,
        take_over_from: str | None = None,
    ) -> ClaimResult:
        """Mark the week running for this run, unless another run holds it (row-locked)."""
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO report_data_weeks (report, week_start_date, week_end_date, status)"
                " VALUES (%s, %s, %s, 'pending') ON CONFLICT (report, week_start_date) DO NOTHING",
                (report, week_start, week_end),
            )
            created = cur.rowcount == 1
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM report_data_weeks WHERE report = %s AND week_start_date = %s"
                    " FOR UPDATE"
                ).format(_WEEK_COLUMNS),
                (report, week_start),
            )
            current = _week(cur.fetchone())
            assert current is not None
            previous = None if created else current
            holder = current.dagster_run_id
            if (
                current.status == "running"
                and holder
                and holder != dagster_run_id
                and holder != take_over_from
            ):
                return ClaimResult(claimed=False, holder_run_id=holder, previous=previous)
            if current.status == "running" and holder and holder == take_over_from:
                _log.warning(
                    "run %s takes week %s of %r over from run %s",
                    dagster_run_id,
                    week_start,
                    report,
                    holder,
                )
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks SET status = 'running', dagster_run_id = %s,"
                    " collection_id = %s, started_at = clock_timestamp(), completed_at = NULL,"
                    " error_message = NULL, week_end_date = %s"
                    " WHERE report = %s AND week_start_date = %s RETURNING {}"
                ).format(_WEEK_COLUMNS),
                (dagster_run_id, collection_id, week_end, report, week_start),
            )
            return ClaimResult(claimed=True, previous=previous, week=_week(cur.fetchone()))

    def update_week_status(
        self,
        report: str,
        week_start: date,
        status: str,
        *,
        execution_id: uuid.UUID | None = None,
        amc_execution_id: str | None = None,
        error_message: str | None = None,
        record_count: int | None = None,
        dagster_run_id: str | None = None,
        week_end: date | None = None,
    ) -> WeekRow:
        """Set a week's status (creating the row if needed) and return the row.

        `started_at` is set on running, `completed_at` on completed/failed/skipped. Ids not given
        keep the stored ones (with a warning); given an execution_id without an amc_execution_id,
        the execution's own AMC id is used. Unknown statuses raise ValueError.
        """
        _check_status(status, WEEK_STATUSES, "week")
        end = week_end or week_start + timedelta(days=6)
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO report_data_weeks (report, week_start_date, week_end_date, status)"
                " VALUES (%s, %s, %s, 'pending') ON CONFLICT (report, week_start_date) DO NOTHING",
                (report, week_start, end),
            )
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM report_data_weeks WHERE report = %s AND week_start_date = %s"
                    " FOR UPDATE"
                ).format(_WEEK_COLUMNS),
                (report, week_start),
            )
            current = _week(cur.fetchone())
            assert current is not None
            new_execution = current.execution_id
            new_amc = current.amc_execution_id
            if execution_id is not None:
                cur.execute(
                    "SELECT amc_execution_id FROM workflow_executions WHERE id = %s",
                    (execution_id,),
                )
                found = cur.fetchone()
                if found is None:
                    raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
                if execution_id != current.execution_id:
                    new_amc = None  # the stored AMC id belonged to the other execution
                new_execution = execution_id
                new_amc = amc_execution_id or found["amc_execution_id"] or new_amc
            else:
                if current.execution_id is not None:
                    _log.warning(
                        "update_week_status(%r, %s, %r) without execution_id: keeping the stored "
                        "execution_id %s",
                        report,
                        week_start,
                        status,
                        current.execution_id,
                    )
                if amc_execution_id:
                    new_amc = amc_execution_id
                elif current.amc_execution_id:
                    _log.warning(
                        "update_week_status(%r, %s, %r) without amc_execution_id: keeping the "
                        "stored amc_execution_id %s",
                        report,
                        week_start,
                        status,
                        current.amc_execution_id,
                    )
            if status == "completed" and (new_execution is None or not new_amc):
                _log.warning(
                    "week %s of %r marked completed without %s: lineage incomplete",
                    week_start,
                    report,
                    "an execution_id" if new_execution is None else "an amc_execution_id",
                )
            if error_message is None and status in ("running", "completed", "pending"):
                error_sql = sql.SQL("NULL")
            elif error_message is None:
                error_sql = sql.SQL("error_message")
            else:
                error_sql = sql.Placeholder("error")
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks SET status = %(status)s,"
                    " execution_id = %(execution_id)s, amc_execution_id = %(amc)s,"
                    " error_message = {error},"
                    " record_count = COALESCE(%(record_count)s, record_count),"
                    " dagster_run_id = COALESCE(%(run)s, dagster_run_id),"
                    " week_end_date = COALESCE(%(week_end)s, week_end_date),"
                    " started_at = CASE WHEN %(status)s = 'running' THEN clock_timestamp()"
                    "   ELSE started_at END,"
                    " completed_at = CASE"
                    "   WHEN %(status)s IN ('completed', 'failed', 'skipped')"
                    "   THEN clock_timestamp()"
                    "   WHEN %(status)s IN ('running', 'pending') THEN NULL"
                    "   ELSE completed_at END"
                    " WHERE report = %(report)s AND week_start_date = %(week)s RETURNING {columns}"
                ).format(error=error_sql, columns=_WEEK_COLUMNS),
                {
                    "status": status,
                    "execution_id": new_execution,
                    "amc": new_amc,
                    "error": error_message,
                    "record_count": record_count,
                    "run": dagster_run_id,
                    "week_end": week_end,
                    "report": report,
                    "week": week_start,
                },
            )
            row = _week(cur.fetchone())
        assert row is not None
        return row

    def get_week(self, report: str, week_start: date) -> WeekRow | None:
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM report_data_weeks WHERE report = %s AND week_start_date = %s"
                ).format(_WEEK_COLUMNS),
                (report, week_start),
            )
            return _week(cur.fetchone())

    def list_weeks(self, report: str | None = None) -> list[WeekRow]:
        """Week rows (of one report, or all), ordered by report and week."""
        query = sql.SQL("SELECT {} FROM report_data_weeks").format(_WEEK_COLUMNS)
        params: tuple[Any, ...] = ()
        if report is not None:
            query += sql.SQL(" WHERE report = %s")
            params = (report,)
        query += sql.SQL(" ORDER BY report, week_start_date")
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return [row for row in map(_week, cur.fetchall()) if row is not None]

    def replace_week_results(
        self,
        report: str,
        week_start: date,
        execution_id: uuid.UUID,
        csv_stream: BinaryIO | Iterable[bytes],
        *,
        week_end: date | None = None,
        amc_execution_id: str | None = None,
    ) -> LoadResult:
        """Replace the week's rows with the CSV's and complete the week, in one transaction.

        See `amc_reports.warehouse.loading` for the procedure.
        """
        return replace_week(
            connect=self.connect,
            schema=self.results_schema,
            table=table_name_for_report(report),
            report=report,
            week_start=week_start,
            week_end=week_end,
            execution_id=execution_id,
            amc_execution_id=amc_execution_id,
            source=csv_stream,
        )

    def count_week_rows(self, report: str, week_start: date) -> dict[uuid.UUID | None, int]:
        """Stored result rows of the week per execution_id ({} when the table does not exist)."""
        with self.connect() as conn:
            if not self._table_exists(conn, report):
                return {}
            rows = conn.execute(
                sql.SQL(
                    "SELECT execution_id, count(*) FROM {} WHERE week_start_date = %s GROUP BY 1"
                ).format(self._results_ident(report)),
                (week_start,),
            ).fetchall()
        return {execution: int(count) for execution, count in rows}

    def week_columns(self, report: str, week_start: date) -> list[tuple[str, str]] | None:
        """The (name, type) columns of the week's CSV as stored when it was loaded."""
        week = self.get_week(report, week_start)
        return None if week is None else week.result_columns

    def table_columns(self, report: str) -> list[tuple[str, str]]:
        """Current (name, type) columns of the report's results table, lineage columns first."""
        with self.connect() as conn:
            shape = results.read_shape(conn, self.results_schema, table_name_for_report(report))
        return shape.columns()

    def _table_exists(self, conn: psycopg.Connection, report: str) -> bool:
        return results.read_shape(conn, self.results_schema, table_name_for_report(report)).exists

    # -- collections ---------------------------------------------------------------------------

    def start_collection(
        self,
        *,
        report: str,
        collection_type: str,
        dagster_run_id: str,
        backfill_id: str | None,
        weeks: list[date],
    ) -> uuid.UUID:
        """Record a collection (one per Dagster run and report); the existing id on repeat."""
        if collection_type not in COLLECTION_TYPES:
            allowed = ", ".join(COLLECTION_TYPES)
            raise ValueError(f"unknown collection type {collection_type!r}; allowed: {allowed}")
        targeted = sorted(set(weeks))
        with self.connect() as conn:
            row = conn.execute(
                "INSERT INTO report_data_collections (report, collection_type, dagster_run_id,"
                " backfill_id, weeks, weeks_total) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (dagster_run_id, report) DO UPDATE"
                " SET dagster_run_id = EXCLUDED.dagster_run_id RETURNING id",
                (report, collection_type, dagster_run_id, backfill_id, targeted, len(targeted)),
            ).fetchone()
        assert row is not None
        return row[0]

    def finish_collection(
        self,
        collection_id: uuid.UUID,
        *,
        status: str,
        weeks_completed: int,
        weeks_failed: int,
    ) -> None:
        _check_status(status, COLLECTION_STATUSES, "collection")
        with self.connect() as conn:
            cur = conn.execute(
                "UPDATE report_data_collections SET status = %s, weeks_completed = %s,"
                " weeks_failed = %s,"
                " completed_at = CASE WHEN %s = 'running' THEN NULL ELSE clock_timestamp() END"
                " WHERE id = %s",
                (status, weeks_completed, weeks_failed, status, collection_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"collection {collection_id} does not exist")

    def get_collection(self, collection_id: uuid.UUID) -> CollectionRow | None:
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM report_data_collections WHERE id = %s").format(
                    _COLLECTION_COLUMNS
                ),
                (collection_id,),
            )
            row = cur.fetchone()
        return None if row is None else CollectionRow(**row)
