"""Results tables: one per report in the results schema, evolved to fit each week's CSV.

Layout of a results table: `execution_id uuid NOT NULL`, `week_start_date date NOT NULL`,
`amc_instance text NOT NULL` (the lineage columns), then the CSV's columns in the order they first
appeared. The table is partitioned by (amc_instance, week_start_date), one partition per collected
week of an instance (see `partitions`). Columns are added when a CSV brings new ones and widened
when values no longer fit (see `inference`); nothing is dropped, and every change reaches every
partition. A column first seen with only empty
values is created as text and marked `amc_reports:untyped` (column comment); the first week with
values gives it their type if the table still holds only NULLs in it.

A load plans the change first (`plan_change(...).after`: read only, no lock on the table), builds
and fills the week's new partition in that shape, and plans again and applies the DDL (`evolve`) in
its own transaction at the swap, under a per-table advisory lock (so two loads of the same report
never race or deadlock on ALTER TABLE): a refused load changes nothing, not even the columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from amc_reports.warehouse.inference import KIND_TYPES, NUMERIC_TYPES, TEXT, widened_type
from amc_reports.warehouse.locks import advisory_key

_log = logging.getLogger(__name__)

UNTYPED_MARK = "amc_reports:untyped"
LINEAGE_COLUMN_TYPES = (
    ("execution_id", "uuid"),
    ("week_start_date", "date"),
    ("amc_instance", "text"),
)


@dataclass
class TableShape:
    """The columns of a results table: name -> Postgres type, and which are still untyped."""

    exists: bool
    types: dict[str, str] = field(default_factory=dict)
    untyped: set[str] = field(default_factory=set)

    def columns(self) -> list[tuple[str, str]]:
        return list(self.types.items())

    def data_columns(self) -> list[tuple[str, str]]:
        """The CSV's columns (lineage columns left out)."""
        lineage = {name for name, _ in LINEAGE_COLUMN_TYPES}
        return [(name, kind) for name, kind in self.types.items() if name not in lineage]

    def numeric_columns(self) -> list[str]:
        return [name for name, kind in self.data_columns() if kind in NUMERIC_TYPES]


def table_identifier(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def read_shape(conn: psycopg.Connection, schema: str, table: str) -> TableShape:
    """The table's columns, read in one statement (one snapshot): a table another transaction
    creates meanwhile is seen either not at all or with all its columns, never as existing
    without them (which would plan a table without its lineage columns)."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)"
        " FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " AND c.relkind IN ('r', 'p')"
        " WHERE n.nspname = %s AND c.relname = %s"
        " ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    if not rows:
        return TableShape(exists=False)
    columns = [(name, kind, comment) for name, kind, comment in rows if name is not None]
    return TableShape(
        exists=True,
        types={name: kind for name, kind, _ in columns},
        untyped={name for name, _, comment in columns if comment == UNTYPED_MARK},
    )


@dataclass
class Plan:
    """What it takes for the table `schema`.`table`, found in shape `before`, to hold a week's
    columns (`plan`)."""

    schema: str
    table: str
    before: TableShape
    create: bool = False
    add: list[tuple[str, str, bool]] = field(default_factory=list)  # name, type, untyped
    alter: list[tuple[str, str, str]] = field(default_factory=list)  # name, from, to
    narrow: list[tuple[str, str | None]] = field(default_factory=list)  # untyped; type or None

    def empty(self) -> bool:
        return not (self.create or self.add or self.alter or self.narrow)

    @property
    def after(self) -> TableShape:
        """The shape the table has once the plan is applied."""
        if self.empty():
            return self.before
        lineage = dict(LINEAGE_COLUMN_TYPES) if self.create else {}
        types = {**lineage, **self.before.types}
        untyped = set(self.before.untyped)
        for name, pg_type, is_untyped in self.add:
            types[name] = pg_type
            if is_untyped:
                untyped.add(name)
        for name, _, new in self.alter:
            types[name] = new
        for name, new in self.narrow:
            untyped.discard(name)
            if new is not None:
                types[name] = new
        return TableShape(exists=True, types=types, untyped=untyped)


def plan_change(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    names: list[str],
    kinds: list[str | None],
) -> Plan:
    """What it takes for the table to hold columns `names` with values of `kinds` (read only, in
    the caller's transaction; no columns: nothing)."""
    shape = read_shape(conn, schema, table)
    planned = Plan(schema, table, shape, create=bool(names) and not shape.exists)
    for name, kind in zip(names, kinds, strict=True):
        stored = shape.types.get(name)
        if stored is None:
            planned.add.append((name, KIND_TYPES[kind] if kind else TEXT, kind is None))
        elif name in shape.untyped and kind not in (None, "text"):
            # Typed only while it holds nothing but NULLs; else it holds text after all.
            has_values = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} IS NOT NULL)").format(
                    table_identifier(schema, table), sql.Identifier(name)
                )
            ).fetchone()
            planned.narrow.append(
                (name, None if has_values and has_values[0] else KIND_TYPES[kind])
            )
        else:
            wanted = widened_type(stored, kind)
            if wanted != stored:
                planned.alter.append((name, stored, wanted))
    return planned


def ddl_lock(schema: str, table: str) -> int:
    """The advisory lock serialising changes to a results table: its DDL and week swaps."""
    return advisory_key("ddl", schema, table)


def evolve(conn: psycopg.Connection, plan: Plan) -> TableShape:
    """Create / change the table as `plan` says, in the caller's transaction (which must hold
    `ddl_lock` and have made the plan); returns the shape it has then."""
    if plan.empty():
        return plan.before
    _apply(conn, plan.schema, plan.table, plan)
    return read_shape(conn, plan.schema, plan.table)


def _apply(conn: psycopg.Connection, schema: str, table: str, plan: Plan) -> None:
    ident = table_identifier(schema, table)
    conn.execute("SET LOCAL TimeZone = 'UTC'")  # timestamp -> timestamptz reads naive values as UTC
    if plan.create:
        columns = [
            sql.SQL("{} {} NOT NULL").format(sql.Identifier(name), sql.SQL(pg_type))
            for name, pg_type in LINEAGE_COLUMN_TYPES
        ]
        columns += [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
            for name, pg_type, _ in plan.add
        ]
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} ({}) PARTITION BY RANGE (amc_instance, week_start_date)"
            ).format(ident, sql.SQL(", ").join(columns))
        )
        _log.info("created results table %s with %d columns", ident.as_string(), len(plan.add))
    actions: list[sql.Composable] = []
    if not plan.create:
        actions += [
            sql.SQL("ADD COLUMN {} {}").format(sql.Identifier(name), sql.SQL(pg_type))
            for name, pg_type, _ in plan.add
        ]
    for name, old, new in plan.alter:
        actions.append(
            sql.SQL("ALTER COLUMN {col} TYPE {new} USING {col}::{new}").format(
                col=sql.Identifier(name), new=sql.SQL(new)
            )
        )
        _log.warning("widening %s.%s from %s to %s", ident.as_string(), name, old, new)
    unmark: list[str] = []
    for name, new in plan.narrow:
        unmark.append(name)
        if new is None:
            continue  # it holds text after all: stays text
        actions.append(
            sql.SQL("ALTER COLUMN {col} TYPE {new} USING NULL::{new}").format(
                col=sql.Identifier(name), new=sql.SQL(new)
            )
        )
        _log.info("typing %s.%s (only NULLs so far) as %s", ident.as_string(), name, new)
    if actions:
        conn.execute(sql.SQL("ALTER TABLE {} {}").format(ident, sql.SQL(", ").join(actions)))
    for name, _, untyped in plan.add:
        if untyped:
            conn.execute(
                sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                    sql.Identifier(schema, table, name), sql.Literal(UNTYPED_MARK)
                )
            )
    for name in unmark:
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {} IS NULL").format(sql.Identifier(schema, table, name))
        )
    if plan.add and not plan.create:
        _log.info("added columns %s to %s", [name for name, _, _ in plan.add], ident.as_string())


def copy_statement(
    schema: str, table: str, names: list[str], shape: TableShape, *, freeze: bool = False
) -> sql.Composed:
    """COPY ... FROM STDIN for a CSV with a header, in header order; empty typed values are NULL.

    `freeze`: the table was created in this transaction (its rows are written frozen)."""
    typed = [name for name in names if shape.types.get(name, TEXT) != TEXT]
    options = [sql.SQL("FORMAT csv"), sql.SQL("HEADER true"), sql.SQL("ENCODING 'UTF8'")]
    if freeze:
        options.append(sql.SQL("FREEZE true"))
    if typed:
        options.append(
            sql.SQL("FORCE_NULL ({})").format(sql.SQL(", ").join(map(sql.Identifier, typed)))
        )
    return sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        table_identifier(schema, table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(options),
    )
