"""A week's versions: the one writer of `week_versions`, and every rule about which version is
what. Each load of a week stores a version (one row per execution that stored rows):

    (none) ─record─▶ current ─record (a re-collection)─▶ history ─drop_expired─▶ dropped

- current: the week's partition of the results table (`current`; one per week once loaded).
- history: a replaced version, its partition detached and kept in the history schema
  (`partitions.detach_to_history`); the version that replaced it stores what changed (its
  `restatement`: the row counts recorded by the load; the measures' sums and the rows added,
  removed and changed by `complete_restatement` right after the load committed).
- dropped: a history version the report's retention (`HistoryRetention`) no longer keeps: its
  table is dropped, its row stays (state `dropped`); it can no longer be compared.
- restated: what changed from a version to the one that replaced it is the record stored with
  the new one; `compare` returns that record, and compares any other two from their kept tables.

`WeekVersions` works on the caller's cursor, inside the load's transaction (`loading.WeekLoad`),
so the versions commit with the week's rows and outcome (`week_life.WeekInLoad.complete`), and in
the short transaction after it (`complete_restatement`, `drop_expired`). A version's `sums` are
those of its measures, recorded once measured: a first collection is not measured (nothing to
compare with); the re-collection that replaces it measures both after its commit. The reading side
(`week_versions`, `find_version`, `compare`, `restatement_of`) is what `amc-reports history` shows
and the `restatement_within_tolerance` check judges.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from amc_reports.warehouse import restatement, results
from amc_reports.warehouse.rows import (
    VERSION_COLUMNS,
    WEEK_WHERE,
    ExecutionRow,
    VersionRow,
    VersionState,
    WeekKey,
    version_row,
)

if TYPE_CHECKING:  # the store reads; it loads through this module (no import back at run time)
    from amc_reports.warehouse.store import Warehouse


@dataclass(frozen=True)
class HistoryRetention:
    """How long replaced versions of a week are kept (default: forever)."""

    max_versions: int | None = None  # replaced versions kept per week
    max_age_days: int | None = None  # replaced versions kept this long after being replaced

    @property
    def keeps_everything(self) -> bool:
        return self.max_versions is None and self.max_age_days is None

    def expired(self, history: Sequence[VersionRow], now: datetime) -> list[VersionRow]:
        """The versions of `history` (a week's, most recently replaced first) no longer kept."""
        expired = []
        for position, version in enumerate(history):
            too_many = self.max_versions is not None and position >= self.max_versions
            too_old = (
                self.max_age_days is not None
                and version.replaced_at is not None
                and (now - version.replaced_at).total_seconds() > self.max_age_days * 86400
            )
            if too_many or too_old:
                expired.append(version)
        return expired


@dataclass(frozen=True)
class StoredVersion:
    """Where a load put the week's new rows, what they hold, and what it replaced."""

    table_schema: str
    table_name: str
    sums: dict[str, Any]
    previous_execution_id: uuid.UUID | None = None
    history_schema: str | None = None  # where the replaced version now is
    history_table: str | None = None
    restatement: dict[str, Any] | None = None
    # The restatement is completed after the load commits (`WeekVersions.complete_restatement`).
    to_complete: bool = False


class WeekVersions:
    """A week's versions inside the caller's transaction (the load's cursor): neither committed
    nor retried here; the load's transaction commits them with the week's rows."""

    def __init__(self, cur: psycopg.Cursor[Any], key: WeekKey) -> None:
        self._cur = cur
        self.key = key

    def current(self) -> VersionRow | None:
        """The week's current version."""
        with self._cur.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM week_versions WHERE " + WEEK_WHERE + " AND state = 'current'"
                ).format(VERSION_COLUMNS),
                self.key.params,
            )
            return version_row(cur.fetchone())

    def stored_result(self) -> tuple[str, list[tuple[str, str]]]:
        """The checksum and columns of the result the current version holds, as the week row
        records them; ("", []) when unknown. A new result with both the same is the same rows."""
        row = self._cur.execute(
            "SELECT data_checksum, result_columns FROM report_data_weeks WHERE " + WEEK_WHERE,
            self.key.params,
        ).fetchone()
        if row is None or not row[0]:
            return "", []
        return row[0], [(name, kind) for name, kind in row[1] or []]

    def record(
        self, execution_id: uuid.UUID, version: StoredVersion, *, row_count: int, provisional: bool
    ) -> None:
        """The execution's rows are the week's current version; the version they replace (if
        any) is history, replaced by it."""
        cur = self._cur
        if version.previous_execution_id is not None and version.history_table is not None:
            cur.execute(
                "UPDATE week_versions SET state = 'history', table_schema = %s, table_name = %s,"
                " replaced_at = clock_timestamp(), replaced_by = %s"
                " WHERE execution_id = %s",
                (
                    version.history_schema,
                    version.history_table,
                    execution_id,
                    version.previous_execution_id,
                ),
            )
        cur.execute(
            "INSERT INTO week_versions (execution_id, report, amc_instance, week_start_date,"
            " state, table_schema, table_name, row_count, sums, provisional,"
            " previous_execution_id, restatement)"
            " VALUES (%s, %s, %s, %s, 'current', %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (execution_id) DO UPDATE SET state = 'current',"
            " table_schema = EXCLUDED.table_schema, table_name = EXCLUDED.table_name,"
            " row_count = EXCLUDED.row_count, sums = EXCLUDED.sums,"
            " provisional = EXCLUDED.provisional,"
            " previous_execution_id = EXCLUDED.previous_execution_id,"
            " restatement = EXCLUDED.restatement, loaded_at = clock_timestamp(),"
            " replaced_at = NULL, replaced_by = NULL",
            (
                execution_id,
                *self.key.params,
                version.table_schema,
                version.table_name,
                row_count,
                Jsonb(version.sums),
                provisional,
                version.previous_execution_id,
                Jsonb(version.restatement) if version.restatement is not None else None,
            ),
        )

    def version(self, execution_id: uuid.UUID) -> VersionRow | None:
        """The week's version stored by `execution_id`."""
        with self._cur.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM week_versions WHERE " + WEEK_WHERE + " AND execution_id = %s"
                ).format(VERSION_COLUMNS),
                (*self.key.params, execution_id),
            )
            return version_row(cur.fetchone())

    def complete_restatement(
        self, execution_id: uuid.UUID, replaced: tuple[str, str]
    ) -> dict[str, Any] | None:
        """After the load of `execution_id` committed (under the week's lock): what its
        restatement leaves to after the commit, done and recorded: the measures' sums of both
        versions (a version's recorded sums are used, those measured are recorded with it) and
        the rows compared by the key columns the restatement names. Returns the whole restatement.
        `replaced` is where the load put the replaced rows (used when that version has no row of
        its own). None when there is nothing to complete or either table is gone (the retention,
        or another load of the week in the meantime)."""
        new = self.version(execution_id)
        if new is None or new.state is VersionState.DROPPED or not new.restatement:
            return None
        recorded = new.restatement
        if not restatement.incomplete(recorded):
            return None
        old: VersionRow | None = None
        old_table = replaced
        if new.previous_execution_id is not None:
            old = self.version(new.previous_execution_id)
            if old is None or old.state is not VersionState.HISTORY:
                return None
            old_table = (old.table_schema, old.table_name)
        done = _completed(
            self._cur,
            recorded,
            (old_table, old.sums if old else None),
            ((new.table_schema, new.table_name), new.sums),
        )
        if done is None:
            return None
        changes, measured = done
        self._cur.execute(
            "UPDATE week_versions SET restatement = restatement || %s WHERE execution_id = %s",
            (Jsonb(changes), execution_id),
        )
        for version, sums in zip((old, new), measured, strict=True):
            if version is not None and sums is not None:
                self._cur.execute(
                    "UPDATE week_versions SET sums = sums || %s WHERE execution_id = %s",
                    (Jsonb(sums), version.execution_id),
                )
        return {**recorded, **changes}

    def drop_expired(self, retention: HistoryRetention) -> list[VersionRow]:
        """Drop the tables of the week's history versions that `retention` no longer keeps; their
        rows say `dropped`. Returns them."""
        if retention.keeps_everything:
            return []
        with self._cur.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {}, clock_timestamp() AS now FROM week_versions WHERE "
                    + WEEK_WHERE
                    + " AND state = 'history' ORDER BY replaced_at DESC, loaded_at DESC"
                ).format(VERSION_COLUMNS),
                self.key.params,
            )
            rows = cur.fetchall()
        if not rows:
            return []
        now = rows[0]["now"]
        history = [version_row({k: v for k, v in row.items() if k != "now"}) for row in rows]
        expired = retention.expired([v for v in history if v is not None], now)
        for version in expired:
            self._cur.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(version.table_schema, version.table_name)
                )
            )
        if expired:
            self._cur.execute(
                "UPDATE week_versions SET state = 'dropped' WHERE execution_id = ANY(%s)",
                ([version.execution_id for version in expired],),
            )
        return expired


Side = tuple[tuple[str, str], Mapping[str, Any] | None]  # a version's table and recorded sums


def _completed(
    cur: psycopg.Cursor[Any], recorded: Mapping[str, Any], old: Side, new: Side
) -> tuple[dict[str, Any], list[dict[str, Any] | None]] | None:
    """What `recorded` (the newer version's restatement) lacks, from the versions' tables: the
    measures' sums it names (`restatement.sum_changes`; a side's recorded sums when they cover
    them) and the rows compared by its key columns (`restatement.row_changes`); and each side's
    sums that were measured (None: recorded already). None when either table is gone."""
    conn = cur.connection
    shapes = [results.read_shape(conn, *table) for table, _ in (old, new)]
    if not all(shape.exists for shape in shapes):
        return None
    changes: dict[str, Any] = {}
    measured: list[dict[str, Any] | None] = [None, None]
    rows: list[int | None] = [recorded.get("rows_before"), recorded.get("rows_after")]
    if restatement.sums_pending(recorded):
        measures = list(recorded.get("measures") or ())
        sides: list[Mapping[str, Any]] = []
        for position, ((table, sums), shape) in enumerate(zip((old, new), shapes, strict=True)):
            if sums is not None and set(measures) <= set(sums) and rows[position] is not None:
                sides.append(sums)
                continue
            if sides and recorded.get("same_result"):  # the same rows: the same sums
                measured[position] = dict(sides[0])
                sides.append(sides[0])
                continue
            # An older version lacks the columns added since: their sums are None.
            present = [name for name in measures if name in shape.types]
            summed = restatement.measure(cur, *table, present, rows=rows[position])
            if rows[position] is None:  # a partition older than its version row: counted now
                rows[position] = summed.rows
                changes["rows_before"] = summed.rows
                changes["row_count_relative_change"] = restatement.relative_change(*rows)
            measured[position] = summed.sums
            sides.append(summed.sums)
        changes.update(
            restatement.sum_changes(
                {name: sides[0].get(name) for name in measures},
                {name: sides[1].get(name) for name in measures},
            )
        )
    if restatement.rows_pending(recorded):
        # The older rows have the table's columns as they were then: read them with the
        # columns and types of the newer ones.
        columns = shapes[1].data_columns()
        diff = restatement.key_diff(
            cur,
            restatement.read_as(*old[0], shapes[0].types, columns),
            new[0],
            list(recorded["key_columns"]),
            [name for name, _ in columns],
            (int(rows[0] or 0), int(rows[1] or 0)),  # rows[0] counted above if unknown
        )
        changes.update(restatement.row_changes(diff))
    return changes, measured


# -- reading: what `amc-reports history` shows ---------------------------------------------------


@dataclass(frozen=True)
class WeekVersion:
    """One stored version of a week and the execution that produced it."""

    version: VersionRow
    execution: ExecutionRow | None

    @property
    def label(self) -> str:
        return "provisional" if self.version.provisional else "final"


class HistoryError(ValueError):
    """A version that does not exist or cannot be compared (the message says which)."""


def week_versions(
    warehouse: Warehouse, report: str, week: date, instance: str | None = None
) -> list[WeekVersion]:
    """Every stored version of the week, oldest first."""
    versions = warehouse.list_versions(report, week, instance)
    instances = {v.amc_instance for v in versions}
    if instance is None and len(instances) > 1:
        listed = ", ".join(sorted(instances))
        raise HistoryError(
            f"report {report!r} has week {week} on several instances ({listed}): name one with "
            "--instance"
        )
    executions = warehouse.get_executions(v.execution_id for v in versions)
    return [WeekVersion(v, executions.get(v.execution_id)) for v in versions]


def find_version(versions: Sequence[WeekVersion], wanted: str) -> WeekVersion:
    """The version whose execution_id (ours or AMC's) is or starts with `wanted`."""
    matches = [
        v
        for v in versions
        if str(v.version.execution_id).startswith(wanted)
        or (v.execution and v.execution.amc_execution_id or "").startswith(wanted)
    ]
    if len(matches) != 1:
        known = ", ".join(str(v.version.execution_id)[:8] for v in versions) or "none"
        what = "no version" if not matches else f"{len(matches)} versions"
        raise HistoryError(f"{what} of this week match {wanted!r} (its versions: {known})")
    return matches[0]


def compare(
    warehouse: Warehouse,
    old: WeekVersion,
    new: WeekVersion,
    key_columns: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What changed from `old` to `new`: row counts, measures' sums, rows added/removed/changed.

    When `new` replaced `old`, this is the restatement recorded when `new` was loaded (the one
    record that `history` lists and the `restatement_within_tolerance` check judges), completed
    now if the load could not complete it (`restatement_of`). Any other two versions are compared
    now, from their stored tables."""
    recorded = new.version.restatement
    if recorded and recorded.get("previous_execution_id") == str(old.version.execution_id):
        return {**restatement_of(warehouse, new.version, old.version), "recorded": True}
    for side in (old, new):
        if side.version.state is VersionState.DROPPED:
            raise HistoryError(
                f"version {side.version.execution_id} was removed by the history retention"
            )
    with warehouse.connect() as conn, conn.cursor() as cur:
        shapes = [
            results.read_shape(conn, v.version.table_schema, v.version.table_name)
            for v in (old, new)
        ]
        for side, shape in zip((old, new), shapes, strict=True):
            if not shape.exists:
                raise HistoryError(
                    f"the table of version {side.version.execution_id} "
                    f"({side.version.table_schema}.{side.version.table_name}) is missing"
                )
        common = [c for c in shapes[1].data_columns() if c in shapes[0].data_columns()]
        keys = restatement.key_columns_for(common, key_columns)
        try:
            summed = restatement.measure_columns(common, keys, measures)
        except restatement.MissingMeasures as exc:
            raise HistoryError(f"these two versions cannot be compared: {exc}") from None
        measured = [
            restatement.measure(cur, v.version.table_schema, v.version.table_name, summed)
            for v in (old, new)
        ]
        diff = (
            restatement.key_diff(
                cur,
                (old.version.table_schema, old.version.table_name),
                (new.version.table_schema, new.version.table_name),
                keys,
                [name for name, _ in common],
                (measured[0].rows, measured[1].rows),
            )
            if keys
            else None
        )
        conn.rollback()
    changes = restatement.summarize(
        previous_execution_id=str(old.version.execution_id),
        previous_provisional=old.version.provisional,
        before=measured[0],
        after=measured[1],
        diff=diff,
        keys=keys,
    )
    return {**changes, "recorded": False}


def restatement_of(
    warehouse: Warehouse, version: VersionRow, previous: VersionRow | None = None
) -> dict[str, Any]:
    """The restatement recorded with `version` (empty: it replaced nothing). When the load could
    not complete it after its commit (`restatement.incomplete`), it is completed now from the two
    versions' tables, read only (`completed_now`: True); when a table is gone, it is returned as
    recorded. `previous`: the version it replaced, when the caller has it."""
    recorded = version.restatement or {}
    if not restatement.incomplete(recorded) or version.previous_execution_id is None:
        return dict(recorded)
    if previous is None:
        previous = warehouse.get_version(version.previous_execution_id)
    if previous is None or VersionState.DROPPED in (previous.state, version.state):
        return dict(recorded)
    with warehouse.connect() as conn, conn.cursor() as cur:
        done = _completed(
            cur,
            recorded,
            ((previous.table_schema, previous.table_name), previous.sums),
            ((version.table_schema, version.table_name), version.sums),
        )
        conn.rollback()
    if done is None:
        return dict(recorded)
    return {**recorded, **done[0], "completed_now": True}


def describe_change(changes: Mapping[str, Any]) -> str:
    """A restatement in one line: rows before and after, rows added, removed and changed (by the
    key columns), and the measure whose sum moved most."""
    parts = [f"rows {changes.get('rows_before')} -> {changes.get('rows_after')}"]
    if changes.get("rows_added") is not None:
        parts.append(
            f"{changes['rows_added']} added, {changes['rows_removed']} removed, "
            f"{changes['rows_changed']} changed"
        )
    largest = restatement.largest_sum_change(changes)
    if largest:
        parts.append(
            f"largest sum change {largest['column']} {100 * largest['relative_change']:+.2f} %"
        )
    return "; ".join(parts)
