"""The warehouse: execution tracking tables and the per-report results tables.

Every method opens its own connection (thread-safe, no shared state beyond the URL). Reads live
here; every write to `report_data_weeks` and `workflow_executions` is a named transition of
`week_life.WeekLife` (`warehouse.life`); a week's rows and its outcome commit in one transaction
(`loading`). Control tables live in the connection's default schema (`public`), results in
`results_schema` (default `amc_results`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, BinaryIO

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from amc_reports.warehouse import results
from amc_reports.warehouse.breakers import CircuitBreakers
from amc_reports.warehouse.connection import (
    CONNECTION_HINT,
    mask_url,
    open_connection,
    validate_database_url,
)
from amc_reports.warehouse.identifiers import LINEAGE_COLUMNS, table_name_for_report
from amc_reports.warehouse.kpis import CampaignKpis
from amc_reports.warehouse.loading import LoadOptions, LoadResult, WeekLoad, replace_week
from amc_reports.warehouse.migrate import apply_migrations
from amc_reports.warehouse.rows import (
    COLLECTION_COLUMNS,
    EXECUTION_COLUMNS,
    VERSION_COLUMNS,
    WEEK_COLUMNS,
    CollectionRow,
    CollectionStatus,
    CollectionType,
    ExecutionRow,
    VersionRow,
    WeekKey,
    WeekRow,
    collection_row,
    execution_row,
    open_execution_condition,
    parse_status,
    version_row,
    week_row,
)
from amc_reports.warehouse.week_life import WeekLife

_log = logging.getLogger(__name__)

DEFAULT_RESULTS_SCHEMA = "amc_results"


RowFactory = Callable[[dict[str, Any] | None], Any]


def _where(**equal: Any) -> tuple[sql.Composable, tuple[Any, ...]]:
    """`col = %s AND ...` for the conditions given (None: not filtered), and their values."""
    given = {column: value for column, value in equal.items() if value is not None}
    if not given:
        return sql.SQL("true"), ()
    condition = sql.SQL(" AND ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in given
    )
    return condition, tuple(given.values())


class Warehouse:
    """Postgres storage of executions, weeks, collections and results."""

    def __init__(
        self,
        database_url: str,
        *,
        results_schema: str = DEFAULT_RESULTS_SCHEMA,
        connection_hint: str = CONNECTION_HINT,
    ) -> None:
        if not results_schema:
            raise ValueError("results_schema must not be empty")
        self.database_url = database_url
        self.results_schema = results_schema
        self.connection_hint = connection_hint
        self.life = WeekLife(self.connect)
        self.breakers = CircuitBreakers(self.connect)
        self.kpis = CampaignKpis(self.connect)

    def __repr__(self) -> str:
        return f"Warehouse({mask_url(self.database_url)!r}, results_schema={self.results_schema!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        """A new connection (autocommit off); `DatabaseConfigError` when unreachable."""
        return open_connection(self.database_url, hint=self.connection_hint)

    def migrate(self, instance_aliases: Mapping[str, str] | None = None) -> list[str]:
        """Apply pending migrations (idempotent, safe concurrently); names of those applied now.

        `instance_aliases`: the reports config's AMC instance id -> alias (None: no config was
        loaded; a migration that needs it then refuses, `MigrationNeedsConfigError`)."""
        with self.connect() as conn:
            applied = apply_migrations(
                conn, results_schema=self.results_schema, instance_aliases=instance_aliases
            )
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

    def _rows(
        self,
        factory: RowFactory,
        columns: sql.Composable,
        table: str,
        where: tuple[sql.Composable, tuple[Any, ...]],
        order: str = "",
        limit: int | None = None,
    ) -> list[Any]:
        """Typed rows of a control table: `SELECT columns FROM table WHERE ... ORDER BY ...`."""
        condition, params = where
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            columns, sql.Identifier(table), condition
        )
        if order:
            query += sql.SQL(" ORDER BY " + order)
        if limit is not None:
            query += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
        with self.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return [row for row in map(factory, cur.fetchall()) if row is not None]

    # -- executions ----------------------------------------------------------------------------

    def get_execution(self, execution_id: uuid.UUID) -> ExecutionRow | None:
        rows = self._rows(
            execution_row, EXECUTION_COLUMNS, "workflow_executions", _where(id=execution_id)
        )
        return rows[0] if rows else None

    def get_executions(self, execution_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ExecutionRow]:
        """The executions of these ids that exist, by id (one query)."""
        ids = sorted(set(execution_ids))
        if not ids:
            return {}
        where = (sql.SQL("id = ANY(%s)"), (ids,))
        rows = self._rows(execution_row, EXECUTION_COLUMNS, "workflow_executions", where)
        return {row.id: row for row in rows}

    def list_executions(
        self, report: str, week_start: date, instance: str | None = None
    ) -> list[ExecutionRow]:
        """Every execution of the week (of one instance, or all), oldest first."""
        where = _where(report=report, amc_instance=instance, week_start_date=week_start)
        return self._rows(
            execution_row, EXECUTION_COLUMNS, "workflow_executions", where, "created_at, id"
        )

    def open_executions(self, report: str, instance: str) -> list[ExecutionRow]:
        """Executions of the report on the instance that AMC may still be working on (PENDING,
        RUNNING, PUBLISHING) or that SUCCEEDED but were never loaded, oldest first."""
        condition, params = _where(report=report, amc_instance=instance)
        still_open = sql.SQL("{} AND {}").format(condition, open_execution_condition())
        return self._rows(
            execution_row,
            EXECUTION_COLUMNS,
            "workflow_executions",
            (still_open, params),
            "created_at, id",
        )

    def known_amc_execution_ids(self, amc_execution_ids: Iterable[str]) -> set[str]:
        """Which of these AMC execution ids are already recorded (ours)."""
        ids = sorted(set(amc_execution_ids))
        if not ids:
            return set()
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT amc_execution_id FROM workflow_executions WHERE amc_execution_id = ANY(%s)",
                (ids,),
            ).fetchall()
        return {row[0] for row in rows}

    # -- weeks ---------------------------------------------------------------------------------

    def get_week(
        self, report: str, week_start: date, instance: str | None = None
    ) -> WeekRow | None:
        """The week's row on `instance`; without one, the week's only row (an error when the
        report collects the week on several instances)."""
        where = _where(report=report, amc_instance=instance, week_start_date=week_start)
        rows = self._rows(week_row, WEEK_COLUMNS, "report_data_weeks", where, limit=2)
        if len(rows) > 1:
            raise ValueError(
                f"report {report!r} has week {week_start} on several AMC instances "
                f"({', '.join(r.amc_instance for r in rows)}, ...): name the instance"
            )
        return rows[0] if rows else None

    def get_week_by_key(self, key: WeekKey) -> WeekRow | None:
        return self.get_week(key.report, key.week_start, key.instance)

    def list_weeks(self, report: str | None = None, instance: str | None = None) -> list[WeekRow]:
        """Week rows (of one report and instance, or all), ordered by report, instance, week."""
        return self._rows(
            week_row,
            WEEK_COLUMNS,
            "report_data_weeks",
            _where(report=report, amc_instance=instance),
            "report, amc_instance, week_start_date",
        )

    def running_weeks(self, report: str, instance: str) -> list[WeekRow]:
        """The report's weeks on the instance that are `running` (held by some run)."""
        where = _where(report=report, amc_instance=instance, status="running")
        return self._rows(week_row, WEEK_COLUMNS, "report_data_weeks", where, "week_start_date")

    def provisional_weeks_due(self, report: str, instance: str, now: datetime) -> list[WeekRow]:
        """Completed weeks whose stored numbers are provisional and whose final time has passed."""
        condition, params = _where(report=report, amc_instance=instance, status="completed")
        due = sql.SQL("{} AND provisional AND final_at <= %s").format(condition)
        return self._rows(
            week_row, WEEK_COLUMNS, "report_data_weeks", (due, (*params, now)), "week_start_date"
        )

    def load_week(
        self,
        key: WeekKey,
        execution_id: uuid.UUID,
        csv_stream: BinaryIO | Iterable[bytes],
        *,
        amc_execution_id: str | None = None,
        options: LoadOptions | None = None,
        run_id: str | None = None,
    ) -> LoadResult:
        """Replace the week's rows with the CSV's and complete the week by execution
        `execution_id` (which must be of that week), in one transaction; returns what it wrote.

        See `amc_reports.warehouse.loading` for the procedure. Given `run_id` (the run that
        claimed the week), nothing is committed unless that run still holds the claim
        (`ClaimLost`).
        """
        load = WeekLoad(
            self.connect,
            self.results_schema,
            table_name_for_report(key.report),
            key,
            execution_id,
            amc_execution_id,
            options or LoadOptions(),
            run_id=run_id,
        )
        return replace_week(load, csv_stream)

    def count_week_rows(
        self, report: str, week_start: date, instance: str | None = None
    ) -> dict[uuid.UUID | None, int]:
        """Stored result rows of the week per execution_id ({} when the table does not exist)."""
        counts: dict[uuid.UUID | None, int] = {}
        for (_, week), per in self.count_rows(report, week_start, instance).items():
            if week == week_start:
                for execution, count in per.items():
                    counts[execution] = counts.get(execution, 0) + count
        return counts

    def count_rows(
        self, report: str, week_start: date | None = None, instance: str | None = None
    ) -> dict[tuple[str, date], dict[uuid.UUID | None, int]]:
        """Stored result rows per (instance, week) and execution_id."""
        condition, params = _where(week_start_date=week_start, amc_instance=instance)
        query = sql.SQL(
            "SELECT amc_instance, week_start_date, execution_id, count(*) FROM {} WHERE {}"
            " GROUP BY 1, 2, 3"
        ).format(self._results_ident(report), condition)
        with self.connect() as conn:
            if not self._table_exists(conn, report):
                return {}
            rows = conn.execute(query, params).fetchall()
        counts: dict[tuple[str, date], dict[uuid.UUID | None, int]] = {}
        for instance_alias, week, execution, count in rows:
            counts.setdefault((instance_alias, week), {})[execution] = int(count)
        return counts

    def preview_rows(
        self, report: str, week_start: date, execution_id: uuid.UUID, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The first `limit` rows of the week stored by `execution_id`: (column names, rows),
        lineage columns left out."""
        return self._sample(
            report,
            sql.SQL("week_start_date = %s AND execution_id = %s"),
            (week_start, execution_id),
            limit,
            include_lineage=False,
        )

    def sample_rows(
        self, report: str, week_start: date, limit: int, instance: str | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The first `limit` stored rows of the week, lineage columns included."""
        condition = sql.SQL("week_start_date = %s")
        params: tuple[Any, ...] = (week_start,)
        if instance is not None:
            condition = sql.SQL("week_start_date = %s AND amc_instance = %s")
            params = (week_start, instance)
        return self._sample(report, condition, params, limit, include_lineage=True)

    def _sample(
        self,
        report: str,
        condition: sql.Composable,
        params: tuple[Any, ...],
        limit: int,
        *,
        include_lineage: bool,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        query = sql.SQL("SELECT * FROM {} WHERE {} LIMIT %s").format(
            self._results_ident(report), condition
        )
        with self.connect() as conn:
            if not self._table_exists(conn, report):
                return [], []
            with conn.cursor() as cur:
                cur.execute(query, (*params, limit))
                names = [d.name for d in cur.description or []]
                rows = cur.fetchall()
        keep = [i for i, name in enumerate(names) if include_lineage or name not in LINEAGE_COLUMNS]
        return [names[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]

    def read_week_frame(
        self,
        report: str,
        instance: str,
        week_start: date,
        execution_id: uuid.UUID,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The week's stored rows of `execution_id` (only that execution's: lineage stays exact)
        as a DataFrame of Python values (dtype object: ids keep every digit, decimals stay
        `Decimal`). `columns`: which (default all); a column the table lacks is a `ValueError`
        naming it."""
        with self.connect() as conn:
            shape = results.read_shape(conn, self.results_schema, table_name_for_report(report))
            if not shape.exists:
                raise ValueError(f"report {report!r} has no results table yet")
            available = [name for name, _ in shape.columns()]
            wanted = list(columns) if columns is not None else available
            missing = [name for name in wanted if name not in available]
            if missing:
                raise ValueError(
                    f"the results of report {report!r} have no column(s) {', '.join(missing)} "
                    f"(columns: {', '.join(available)})"
                )
            query = sql.SQL(
                "SELECT {} FROM {} WHERE amc_instance = %s AND week_start_date = %s"
                " AND execution_id = %s"
            ).format(sql.SQL(", ").join(map(sql.Identifier, wanted)), self._results_ident(report))
            rows = conn.execute(query, (instance, week_start, execution_id)).fetchall()
        return pd.DataFrame(
            {
                name: pd.Series([row[i] for row in rows], dtype=object)
                for i, name in enumerate(wanted)
            }
        )

    # -- versions (the current rows of a week and those kept in history) ------------------------

    def list_versions(
        self, report: str, week_start: date | None = None, instance: str | None = None
    ) -> list[VersionRow]:
        """Stored versions of a report's weeks, oldest first."""
        return self._rows(
            version_row,
            VERSION_COLUMNS,
            "week_versions",
            _where(report=report, week_start_date=week_start, amc_instance=instance),
            "amc_instance, week_start_date, loaded_at, execution_id",
        )

    def get_version(self, execution_id: uuid.UUID) -> VersionRow | None:
        rows = self._rows(
            version_row, VERSION_COLUMNS, "week_versions", _where(execution_id=execution_id)
        )
        return rows[0] if rows else None

    def count_version_rows(self, version: VersionRow) -> dict[uuid.UUID | None, int] | None:
        """A version's stored rows per execution_id (None when its table is gone)."""
        with self.connect() as conn:
            exists = conn.execute(
                "SELECT to_regclass(%s)",
                (sql.Identifier(version.table_schema, version.table_name).as_string(conn),),
            ).fetchone()
            if not exists or exists[0] is None:
                return None
            rows = conn.execute(
                sql.SQL("SELECT execution_id, count(*) FROM {} GROUP BY 1").format(
                    sql.Identifier(version.table_schema, version.table_name)
                )
            ).fetchall()
        return {execution: int(count) for execution, count in rows}

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
        instance: str,
        collection_type: CollectionType | str,
        dagster_run_id: str,
        backfill_id: str | None,
        weeks: list[date],
        root_run_id: str | None = None,
    ) -> uuid.UUID:
        """Record a collection (one per Dagster run, report and instance); the existing id on
        repeat. `root_run_id` is the run's family (Dagster's root run; default: the run)."""
        try:
            kind = CollectionType(collection_type)
        except ValueError:
            allowed = ", ".join(CollectionType)
            raise ValueError(
                f"unknown collection type {collection_type!r}; allowed: {allowed}"
            ) from None
        targeted = sorted(set(weeks))
        values = (
            report,
            instance,
            kind.value,
            dagster_run_id,
            backfill_id,
            targeted,
            len(targeted),
            root_run_id or dagster_run_id,
        )
        with self.connect() as conn:
            [(collection_id,)] = conn.execute(
                "INSERT INTO report_data_collections (report, amc_instance, collection_type,"
                " dagster_run_id, backfill_id, weeks, weeks_total, root_run_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (dagster_run_id, report, amc_instance) DO UPDATE"
                " SET dagster_run_id = EXCLUDED.dagster_run_id RETURNING id",
                values,
            ).fetchall()
        return collection_id

    def finish_collection(
        self,
        collection_id: uuid.UUID,
        *,
        status: CollectionStatus | str,
        weeks_completed: int,
        weeks_failed: int,
    ) -> None:
        state = parse_status(CollectionStatus, status, "collection")
        finished = state is not CollectionStatus.RUNNING
        with self.connect() as conn:
            found = conn.execute(
                "UPDATE report_data_collections SET status = %s, weeks_completed = %s,"
                " weeks_failed = %s, completed_at = CASE WHEN %s THEN clock_timestamp() END"
                " WHERE id = %s RETURNING id",
                (state.value, weeks_completed, weeks_failed, finished, collection_id),
            ).fetchone()
        if found is None:
            raise ValueError(f"collection {collection_id} does not exist")

    def get_collection(self, collection_id: uuid.UUID) -> CollectionRow | None:
        rows = self._rows(
            collection_row, COLLECTION_COLUMNS, "report_data_collections", _where(id=collection_id)
        )
        return rows[0] if rows else None


_open: dict[str, Warehouse] = {}
_open_lock = threading.Lock()


def open_warehouse(
    database_url: str | Callable[[], str],
    *,
    key: str | None = None,
    connection_hint: str = CONNECTION_HINT,
    instance_aliases: Mapping[str, str] | None = None,
) -> Warehouse:
    """The process's one migrated `Warehouse` of a database (migrations run once per process).

    `database_url` may be a function giving the URL (an embedded server is started on first
    use); `key` then names the database in the cache.
    """
    cache_key = key or (database_url if isinstance(database_url, str) else None)
    if cache_key is None:
        raise ValueError("open_warehouse needs a key when the URL is computed")
    with _open_lock:
        warehouse = _open.get(cache_key)
        if warehouse is None:
            url = database_url if isinstance(database_url, str) else database_url()
            warehouse = Warehouse(validate_database_url(url), connection_hint=connection_hint)
            warehouse.migrate(instance_aliases)
            _open[cache_key] = warehouse
        return warehouse
