"""A Dagster week is a Postgres partition: the results table of a report is partitioned by
(amc_instance, week_start_date), one partition per collected week of an instance.

Loading a week builds its new partition as a table of its own (the instance and week as column
defaults and a CHECK constraint, so COPY fills them at COPY speed and attaching needs no scan; the
execution id added once the rows are in, as a column whose default every row reads without storing
it: `stamp_execution`), then swaps it in: the partition it replaces is detached and moved to the
history schema under a name that carries its execution id. All of it in the load's transaction, so
readers see the old week or the new one, never a mix. Detaching takes a short ACCESS EXCLUSIVE
lock on the results table at the very end of the transaction; attaching takes only SHARE UPDATE
EXCLUSIVE.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from amc_reports.warehouse.identifiers import pg_identifier, table_name_for_report
from amc_reports.warehouse.rows import WeekKey

LINEAGE_COLUMNS = ("execution_id", "week_start_date", "amc_instance")
LINEAGE_CHECK = "amc_reports_lineage"  # every row of a week's partition is of its week and run
# A partition filled by a load: its run checked apart (`stamp_execution`).
EXECUTION_CHECK = "amc_reports_lineage_execution"
LINEAGE_CHECKS = (LINEAGE_CHECK, EXECUTION_CHECK)

__all__ = [
    "LINEAGE_CHECKS",
    "LINEAGE_COLUMNS",
    "attach_week",
    "create_week_table",
    "current_partition",
    "history_table_name",
    "partition_name",
    "stamp_execution",
    "table_name_for_report",
]


def partition_name(table: str, key: WeekKey) -> str:
    """The name of the week's partition of `table` (at most 63 bytes, stable)."""
    return pg_identifier(f"{table}__{key.instance}__{key.week_start:%Y%m%d}")


def history_table_name(table: str, key: WeekKey, execution_id: uuid.UUID) -> str:
    """The name of a replaced version of the week in the history schema."""
    return pg_identifier(
        f"{table}__{key.instance}__{key.week_start:%Y%m%d}__{execution_id.hex[:12]}"
    )


def staging_name(table: str) -> str:
    """A fresh name for a week's new partition while it is being filled."""
    return pg_identifier(f"{table}__loading_{uuid.uuid4().hex[:12]}")


def bounds(key: WeekKey) -> tuple[sql.Composable, sql.Composable]:
    """FROM (instance, week) TO (instance, week + 1 day): exactly that instance's week."""
    start = sql.SQL("({}, {})").format(sql.Literal(key.instance), sql.Literal(key.week_start))
    end = sql.SQL("({}, {})").format(
        sql.Literal(key.instance), sql.Literal(key.week_start + timedelta(days=1))
    )
    return start, end


def create_week_table(
    cur: psycopg.Cursor[Any],
    schema: str,
    name: str,
    columns: Sequence[tuple[str, str]],
    key: WeekKey,
    execution_id: uuid.UUID | None,
) -> None:
    """A table of the results table's `columns` (name, type) for the week's rows of
    `execution_id`: its lineage columns default to the week's values and are checked, so COPY
    fills them at COPY speed and attaching it needs no scan. Built from the column list rather
    than `LIKE` the results table, so that the load takes no lock on the results table until the
    swap at its very end."""
    defaults: dict[str, sql.Composable] = {
        "week_start_date": sql.Literal(key.week_start),
        "amc_instance": sql.Literal(key.instance),
    }
    checks = [
        sql.SQL("amc_instance = {}").format(sql.Literal(key.instance)),
        sql.SQL("week_start_date = {}").format(sql.Literal(key.week_start)),
    ]
    if execution_id is not None:
        defaults["execution_id"] = sql.SQL("{}::uuid").format(sql.Literal(str(execution_id)))
        checks.append(sql.SQL("execution_id = {}::uuid").format(sql.Literal(str(execution_id))))
    definitions = []
    for column, kind in columns:
        definition = sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind))
        if column in LINEAGE_COLUMNS:
            definition = sql.SQL("{} NOT NULL DEFAULT {}").format(
                definition, defaults.get(column, sql.SQL("NULL"))
            )
        definitions.append(definition)
    definitions.append(
        sql.SQL("CONSTRAINT {} CHECK ({})").format(
            sql.Identifier(LINEAGE_CHECK), sql.SQL(" AND ").join(checks)
        )
    )
    cur.execute(
        sql.SQL("CREATE TABLE {} ({})").format(
            sql.Identifier(schema, name), sql.SQL(", ").join(definitions)
        )
    )


def stamp_execution(
    cur: psycopg.Cursor[Any], schema: str, name: str, execution_id: uuid.UUID
) -> None:
    """Give the week's filled table `name` (built by `create_week_table` without an
    `execution_id` column) the column, `execution_id` on every row.

    The column is added with the execution as its default: a change of the catalog only, every
    row stored before it reads the default (Postgres' "missing value") without it being written
    on each: the load writes 16 bytes less per row, and no row is rewritten. Its CHECK is
    NOT VALID because Postgres did not scan the rows to prove it, which it need not: no row can
    read anything else. It still refuses any row written later with another execution id."""
    value = sql.SQL("{}::uuid").format(sql.Literal(str(execution_id)))
    cur.execute(
        sql.SQL(
            "ALTER TABLE {} ADD COLUMN execution_id uuid NOT NULL DEFAULT {},"
            " ADD CONSTRAINT {} CHECK (execution_id = {}) NOT VALID"
        ).format(sql.Identifier(schema, name), value, sql.Identifier(EXECUTION_CHECK), value)
    )


def conform_week_table(
    cur: psycopg.Cursor[Any],
    schema: str,
    name: str,
    built: Mapping[str, str],
    wanted: Mapping[str, str],
) -> bool:
    """Give the week's table `name`, built with the columns `built` (name -> type), the columns
    `wanted` of the results table, when that only takes adding columns (added by another load in
    the meantime: NULL in this week). False when a column of `built` differs (then it cannot be
    attached)."""
    if any(wanted.get(column) != kind for column, kind in built.items()):
        return False
    missing = [(column, kind) for column, kind in wanted.items() if column not in built]
    if missing:
        cur.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.Identifier(schema, name),
                sql.SQL(", ").join(
                    sql.SQL("ADD COLUMN {} {}").format(sql.Identifier(column), sql.SQL(kind))
                    for column, kind in missing
                ),
            )
        )
    return True


def current_partition(
    cur: psycopg.Cursor[Any], schema: str, table: str, key: WeekKey
) -> str | None:
    """The name of the week's partition attached to `table`, if there is one (None too when
    `table` does not exist yet)."""
    name = partition_name(table, key)
    row = cur.execute(
        "SELECT 1 FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE i.inhparent = to_regclass(%s) AND n.nspname = %s AND c.relname = %s",
        (sql.Identifier(schema, table).as_string(cur), schema, name),
    ).fetchone()
    return name if row else None


def attach_week(
    cur: psycopg.Cursor[Any], schema: str, table: str, staged: str, key: WeekKey
) -> str:
    """Attach the filled table `staged` as the week's partition (under its partition name)."""
    name = partition_name(table, key)
    if staged != name:
        cur.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(schema, staged), sql.Identifier(name)
            )
        )
    start, end = bounds(key)
    cur.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM {} TO {}").format(
            sql.Identifier(schema, table), sql.Identifier(schema, name), start, end
        )
    )
    return name


def detach_to_history(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: str,
    history_schema: str,
    key: WeekKey,
    execution_id: uuid.UUID | None,
) -> str:
    """Detach the week's partition and keep it in `history_schema`; returns its new name."""
    name = partition_name(table, key)
    cur.execute(
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            sql.Identifier(schema, table), sql.Identifier(schema, name)
        )
    )
    kept = history_table_name(table, key, execution_id or uuid.uuid4())
    cur.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(schema, name), sql.Identifier(kept)
        )
    )
    cur.execute(
        sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
            sql.Identifier(schema, kept), sql.Identifier(history_schema)
        )
    )
    return kept


def drop_week(cur: psycopg.Cursor[Any], schema: str, table: str, key: WeekKey) -> None:
    """Drop the week's partition (its rows are replaced by the same execution's)."""
    cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, partition_name(table, key))))
