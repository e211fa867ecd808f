"""Run a report's AMC SQL on one window of synthetic AMC data: sqlglot reads it, DuckDB runs it.

``prepare`` parses the query (Spark-SQL-like, as AMC writes it), replaces AMC's parameters
(``BUILT_IN_PARAMETER('TIME_WINDOW_START')`` / ``'TIME_WINDOW_END'``, ``CUSTOM_PARAMETER('name')``),
checks that it reads only AMC tables, and adds the user-coverage column (see `coverage`).
``check`` binds it against empty tables: an unknown column or function, or a type error, is an
`AmcSqlError` naming the problem and where it is in the query, like AMC's validation. ``run``
loads the window's events (see `world`) and runs it, then applies AMC's aggregation threshold.

The time window applies to the events themselves, as in AMC: each table holds only the events of
the window (the attributed-events tables by traffic or conversion time, as their names say), and
only what has arrived by ``data_as_of``, also the query's "now" (``CAST('today' AS DATE)``). AMC's
own functions and semantics are `functions`'; Spark's functions are translated by sqlglot.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from amc_reports.amc_sql import (
    AmcSqlError,
    SqlError,
    limitation_errors,
    parse_query,
    position_of,
)
from amc_reports.local.sandbox import coverage, functions, tables, world

log = logging.getLogger("amc_reports.local.sandbox")

AGGREGATION_THRESHOLD = coverage.STRICTEST  # the most distinct users a row must cover (MEDIUM)
MARKETPLACES = {
    "ATVPDKIKX0DER": ("AMAZON.COM", 1, "USD"),
    "A2EUQ1WTGCTBG2": ("AMAZON.CA", 7, "CAD"),
    "A1F83G8C2ARO7P": ("AMAZON.CO.UK", 3, "GBP"),
    "A1PA6795UKMFR9": ("AMAZON.DE", 4, "EUR"),
    "A13V1IB3VIYZZH": ("AMAZON.FR", 5, "EUR"),
    "A1VC38T7YXB528": ("AMAZON.CO.JP", 6, "JPY"),
}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class Window:
    """An execution's time window: naive local times in ``time_zone``."""

    start: datetime
    end: datetime
    time_zone: str = "UTC"

    @classmethod
    def parse(cls, start: str, end: str, time_zone: str) -> Window:
        return cls(
            datetime.strptime(start[:19], _TIME_FORMAT),
            datetime.strptime(end[:19], _TIME_FORMAT),
            time_zone,
        )


@dataclass(frozen=True)
class Prepared:
    """A parsed, parameter-substituted query, ready for DuckDB."""

    sql: str  # the query in DuckDB's dialect
    tracked_sql: str  # the same with the users column last, exact up to the threshold (`coverage`)
    tables: frozenset[str]
    dimensions: tuple[bool, ...]  # per output column: a GROUP BY key (not a metric)
    tree: exp.Query = field(repr=False, compare=False)
    extensions: tuple[Extension, ...] = ()  # the query's TABLE(EXTEND_TIME_WINDOW(...))s
    threshold: int = AGGREGATION_THRESHOLD  # distinct users a row must cover (`coverage`)
    column_users: tuple[int, ...] = ()  # per output column: the users that show its value

    @property
    def views(self) -> frozenset[str]:
        """The AMC tables the query reads, over its window or a longer one."""
        return self.tables | {e.table for e in self.extensions}

    @property
    def user_tables(self) -> frozenset[str]:
        """The relations whose rows are one user's events (`coverage`)."""
        return _user_tables(self.extensions)


def _user_tables(extensions: Iterable[Extension]) -> frozenset[str]:
    extended = {e.name for e in extensions if e.table in tables.USER_TABLES}
    return tables.USER_TABLES | extended


@dataclass(frozen=True)
class Extension:
    """``TABLE(EXTEND_TIME_WINDOW('table', 'P14D', 'P1D'))``: the table over a longer window,
    read by the query as the relation ``name``."""

    name: str
    table: str
    before: timedelta
    after: timedelta
    columns: tuple[str, ...] = ()  # the table's columns the query may read (loaded: no others)

    def window(self, window: Window) -> Window:
        return Window(window.start - self.before, window.end + self.after, window.time_zone)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # AMC-like: STRING, LONG, DOUBLE, DECIMAL(38,4), DATE, TIMESTAMP, BOOLEAN, ...


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    filtered_rows: int  # rows under the aggregation threshold (dropped, or blanked and marked)
    threshold: int = AGGREGATION_THRESHOLD  # the distinct users a row had to cover


@dataclass(frozen=True)
class DataSettings:
    """What data a query sees: whose, how much, and what has arrived by when."""

    instance_id: str
    impressions_per_day: int
    data_as_of: datetime  # aware
    marketplace_id: str = "ATVPDKIKX0DER"


# -- preparing ------------------------------------------------------------------------------------


def prepare(
    sql: str,
    window: Window,
    parameters: Mapping[str, Any] | None = None,
    paid_features: Iterable[str] | None = None,
) -> Prepared:
    """Parse and rewrite ``sql`` for one window; raises `AmcSqlError` with every problem found
    before binding (AMC's limitations, unknown tables, parameters), in the order of the text.
    ``paid_features``: the instance's (None: all of them); a table of another is refused."""
    tree = parse_query(sql)
    problems = limitation_errors(sql, tree)
    problems += _substitute_parameters(tree, window, parameters or {})
    problems += functions.translate(tree)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    features = None if paid_features is None else frozenset(paid_features)
    extensions, refused = _extend_time_windows(tree, features)
    problems += refused
    extended = {e.name: e.table for e in extensions}
    used, unknown = _relations(tree, ctes | set(extended), features)
    problems += unknown
    if not unknown and not refused:
        problems += _unknown_columns(tree, extended)
        problems += _user_values(tree)
        problems += _literal_filters(tree, extensions, used)
    if problems:
        raise AmcSqlError(sorted(problems, key=_place))
    functions.compare_strings_as_numbers(tree, lambda t, c: _column_type(extended.get(t, t), c))
    dimensions = tuple(coverage.dimension_columns(tree))
    user_tables = _user_tables(extensions)
    read = used | {e.table for e in extensions}
    levels = {name: tables.COLUMN_THRESHOLDS[name] for name in read}
    levels.update((e.name, tables.COLUMN_THRESHOLDS[e.table]) for e in extensions)
    threshold = coverage.required_users(tree, levels, reads_users=bool(read & tables.USER_TABLES))
    try:
        column_users = coverage.output_users(tree, levels)
    except Exception:  # noqa: BLE001 - a shape it cannot follow: every column the strictest
        log.warning("per-column threshold not worked out", exc_info=True)
        column_users = []
    try:
        tracked = coverage.track_users(tree, user_tables, enough=AGGREGATION_THRESHOLD)
    except coverage.CoverageUnsupported as exc:
        raise AmcSqlError(SqlError(coverage.UNSUPPORTED_MESSAGE.format(what=exc))) from None
    return Prepared(
        tree.sql(dialect="duckdb"),
        tracked.sql(dialect="duckdb"),
        frozenset(used),
        dimensions,
        tree,
        tuple(extensions),
        threshold,
        tuple(column_users),
    )


EXTEND_TIME_WINDOW_ARGUMENTS = (
    "EXTEND_TIME_WINDOW takes a table's name and two durations, all three quoted: "
    "TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P14D', 'P1D'))"
)
MAX_EXTENSION = timedelta(days=400)  # past AMC's 13 months of data there is nothing to read
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _extend_time_windows(
    tree: exp.Query, paid_features: frozenset[str] | None = None
) -> tuple[list[Extension], list[SqlError]]:
    """Replace each ``TABLE(EXTEND_TIME_WINDOW('t', 'P14D', 'P1D'))`` (or the call without
    ``TABLE``) by a relation of its own (`Extension`), keeping its alias; an error for each call
    that does not name an AMC table and two ISO 8601 durations."""
    extensions: list[Extension] = []
    problems: list[SqlError] = []
    mentioned = {c.name.lower() for c in tree.find_all(exp.Column)}
    for table in list(tree.find_all(exp.Table)):
        call = table.this
        if _is_call(call, "TABLE") and len(call.expressions) == 1:
            call = call.expressions[0]
        if not _is_call(call, "EXTEND_TIME_WINDOW"):
            continue
        line, column = position_of(table) or (None, None)
        args = call.expressions
        name = (
            args[0].name.lower() if args and isinstance(args[0], exp.Literal | exp.Column) else ""
        )
        durations = [_duration(a) for a in args[1:]]
        if len(args) != 3 or not name or any(d is None for d in durations):
            problems.append(SqlError(EXTEND_TIME_WINDOW_ARGUMENTS, line, column))
            continue
        if name not in tables.TABLES:
            problems.append(SqlError(f"Table {name!r} does not exist", line, column))
            continue
        feature = tables.PAID.get(name)
        if feature is not None and paid_features is not None and feature not in paid_features:
            problems.append(SqlError(tables.not_subscribed(name), line, column))
            continue
        before, after = durations
        assert before is not None and after is not None
        if max(before, after) > MAX_EXTENSION:
            problems.append(
                SqlError(
                    f"EXTEND_TIME_WINDOW extends the window by at most "
                    f"{MAX_EXTENSION.days} days each way",
                    line,
                    column,
                )
            )
            continue
        read = [c for c in tables.columns(name) if c in mentioned or c in coverage.USER_COLUMNS]
        number = len(extensions) + 1
        extension = Extension(f"__amc_extended_{number}", name, before, after, tuple(read))
        extensions.append(extension)
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        table.replace(exp.Table(this=exp.to_identifier(extension.name), alias=alias))
    return extensions, problems


def _duration(arg: exp.Expression) -> timedelta | None:
    """An ISO 8601 duration such as 'P14D' or 'PT12H' (a quoted string), or None."""
    if not (isinstance(arg, exp.Literal) and arg.is_string):
        return None
    match = _DURATION.match(arg.name.strip().upper())
    if match is None or arg.name.strip().upper() in ("P", "PT"):
        return None
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _relations(
    tree: exp.Query, ctes: set[str], paid_features: frozenset[str] | None = None
) -> tuple[set[str], list[SqlError]]:
    """The AMC tables ``tree`` reads, and an error for each other relation it names.

    Only AMC's tables and the query's own CTEs are relations: a table function (``read_text``,
    ``read_csv``, ``glob``, ``query``, ...), a file name or a qualified name is an unknown table,
    as AMC says of it, decided here before DuckDB sees the query. A table of a paid feature the
    instance lacks (``paid_features``; None: it has them all) is refused too.
    """
    used: set[str] = set()
    unknown: list[SqlError] = []
    for table in tree.find_all(exp.Table):
        function = table.this if not isinstance(table.this, exp.Identifier) else None
        if _is_call(function, "TABLE") and len(function.expressions) == 1:
            function = function.expressions[0]  # TABLE(f(...)): the function f
        if _is_call(function, "EXTEND_TIME_WINDOW"):
            continue  # refused by `_extend_time_windows`, which replaces the others
        name = table.name.lower()
        if function is None and not table.args.get("db") and not table.args.get("catalog"):
            if name in ctes:
                continue
            feature = tables.PAID.get(name)
            if feature is not None and paid_features is not None and feature not in paid_features:
                line, column = position_of(table) or (None, None)
                unknown.append(SqlError(tables.not_subscribed(name), line, column))
                continue
            if name in tables.TABLES:
                used.add(name)
                continue
        shown = _function_name(function) if function is not None else _table_name(table)
        line, column = position_of(table) or (None, None)
        unknown.append(SqlError(f"Table {shown!r} does not exist", line, column))
    return used, unknown


def _user_values(tree: exp.Query) -> list[SqlError]:
    """An error for each output column that would carry user ids of many users (`coverage`)."""
    try:
        gathered = coverage.user_values_in_output(tree)
    except Exception:  # noqa: BLE001 - a shape the check cannot follow is refused, not run
        log.warning("user-id check failed", exc_info=True)
        what = "this query's shape"
        return [SqlError(coverage.UNSUPPORTED_MESSAGE.format(what=what))]
    errors = []
    for column in gathered:
        line, col = position_of(column) or (None, None)
        name = column.alias_or_name or column.sql(dialect="spark")
        errors.append(SqlError(coverage.USER_VALUES_MESSAGE.format(name=name), line, col))
    return errors


def _literal_filters(
    tree: exp.Query, extensions: Sequence[Extension], used: Iterable[str]
) -> list[SqlError]:
    """An error for each HIGH / VERY_HIGH column compared with a literal value (`coverage`)."""
    levels = {name: tables.COLUMN_THRESHOLDS[name] for name in used}
    levels.update((e.name, tables.COLUMN_THRESHOLDS[e.table]) for e in extensions)
    try:
        found = coverage.literal_filters(tree, levels)
    except Exception:  # noqa: BLE001 - a shape the check cannot follow is refused, not run
        log.warning("literal filter check failed", exc_info=True)
        return [SqlError(coverage.UNSUPPORTED_MESSAGE.format(what="this query's shape"))]
    errors = []
    for column, level in found:
        line, col = position_of(column) or (None, None)
        message = coverage.LITERAL_FILTER_MESSAGE.format(name=column.name, level=level)
        errors.append(SqlError(message, line, col))
    return errors


def _unknown_columns(tree: exp.Query, extended: Mapping[str, str]) -> list[SqlError]:
    """An error for each column reference no relation of its scope has, when every relation's
    columns are known (AMC tables, CTEs and subqueries without ``*``); DuckDB's binding finds
    the rest, one at a time."""
    errors: list[SqlError] = []
    for scope in traverse_scope(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        known: dict[str, set[str] | None] = {
            name: _source_columns(source, extended) for name, source in scope.sources.items()
        }
        complete = bool(known) and all(c is not None for c in known.values())
        aliases = [e.alias.lower() if isinstance(e, exp.Alias) else "" for e in select.expressions]
        for column, before in _scope_columns(select):
            name = column.name.lower()
            if name == "*" or isinstance(column.this, exp.Star):
                continue
            if column.table:
                columns = known.get(column.table)
                missing = columns is not None and name not in columns
            else:
                # the select's own aliases: GROUP BY, HAVING, ... see them all, a projection
                # those before it (Spark's lateral aliases)
                own = aliases if before is None else aliases[:before]
                missing = (
                    complete
                    and name not in own
                    and not any(name in c for c in known.values() if c is not None)
                )
            if missing:
                line, col = position_of(column) or (None, None)
                shown = column.sql(dialect="spark")
                message = f"Column {shown!r} cannot be resolved" + _did_you_mean(name, tree)
                errors.append(SqlError(message, line, col))
    return errors


def _scope_columns(select: exp.Select) -> Iterator[tuple[exp.Column, int | None]]:
    """The column references of ``select`` itself (not of its subqueries, CTEs or lambdas), each
    with the index of the projection it is in (None: elsewhere, e.g. WHERE or GROUP BY)."""

    def inner(node: exp.Expression) -> bool:
        return node is not select and isinstance(
            node, exp.Subquery | exp.Select | exp.CTE | exp.With | exp.Lambda | exp.SetOperation
        )

    for index, projection in enumerate(select.expressions):
        for node in projection.walk(bfs=False, prune=inner):
            if isinstance(node, exp.Column) and not inner(node):
                yield node, index
    for key, value in select.args.items():
        if key in ("expressions", "with_"):
            continue
        for part in value if isinstance(value, list) else [value]:
            if not isinstance(part, exp.Expression) or inner(part):
                continue
            for node in part.walk(bfs=False, prune=inner):
                if isinstance(node, exp.Column):
                    yield node, None


def _source_columns(source: Any, extended: Mapping[str, str]) -> set[str] | None:
    """The columns a relation of a scope offers; None when they are not known here."""
    if isinstance(source, exp.Table) and not source.args.get("db"):
        name = source.name.lower()
        name = extended.get(name, name)
        return set(tables.columns(name)) if name in tables.TABLES else None
    if isinstance(source, Scope):
        names = [n.lower() for n in getattr(source.expression, "named_selects", [])]
        return None if not names or "*" in names or "" in names else set(names)
    return None


def _column_type(table: str, column: str) -> str | None:
    """AMC's type of an AMC table's column (``STRING``, ``LONG``, ...), or None."""
    found = tables.SCHEMA.tables.get(table)
    if found is None:
        return None
    return next((c.type for c in found.columns if c.name == column), None)


def _is_call(node: exp.Expression | None, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() == name


def _place(error: SqlError) -> tuple[int, int]:
    """Sort key: errors in the order of the text, those without a place last."""
    big = 1 << 30
    return (error.line or big, error.column or big)


def _table_name(table: exp.Table) -> str:
    """A table's name as the query writes it (``db.name``), without its alias or comments."""
    bare = exp.Table(**{k: table.args.get(k) for k in ("this", "db", "catalog")}).copy()
    for node in bare.walk():
        node.comments = None
    return bare.sql(dialect="spark")


def _function_name(function: exp.Expression) -> str:
    if isinstance(function, exp.Anonymous):
        return str(function.this)
    if isinstance(function, exp.Func):
        return function.sql_name().lower()
    return function.sql(dialect="spark")


def _substitute_parameters(
    tree: exp.Query, window: Window, values: Mapping[str, Any]
) -> list[SqlError]:
    """Replace AMC's parameters by their values; an error for each that has none."""
    problems: list[SqlError] = []
    for call in list(tree.find_all(exp.Anonymous)):
        name = str(call.this).upper()
        if name not in ("BUILT_IN_PARAMETER", "CUSTOM_PARAMETER"):
            continue
        line, column = position_of(call) or (None, None)
        args = call.expressions
        if len(args) != 1 or not (isinstance(args[0], exp.Literal) and args[0].is_string):
            problems.append(SqlError(f"{name} takes one quoted parameter name", line, column))
            continue
        key = args[0].name
        if name == "BUILT_IN_PARAMETER":
            moments = {"TIME_WINDOW_START": window.start, "TIME_WINDOW_END": window.end}
            if key.upper() not in moments:
                known = ", ".join(sorted(moments))
                problems.append(
                    SqlError(f"unknown BUILT_IN_PARAMETER {key!r} (known: {known})", line, column)
                )
                continue
            literal = exp.cast(
                exp.Literal.string(f"{moments[key.upper()]:%Y-%m-%d %H:%M:%S}"), "TIMESTAMP"
            )
            call.replace(literal)
        elif key not in values:
            problems.append(SqlError(f"no value for CUSTOM_PARAMETER {key!r}", line, column))
        else:
            call.replace(_literal(values[key]))
    return problems


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


# -- DuckDB ---------------------------------------------------------------------------------------


# DuckDB runs untrusted SQL here: no extensions, no Python objects by name, no spilling to disk;
# `_lock_down` then closes files and network and freezes the configuration.
_CONNECT_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "temp_directory": "",
    "max_temp_directory_size": "0KB",
}


def _connect(
    threads: int = 2, memory_mb: int | None = None, views: Iterable[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the AMC tables (empty; ``views``: only those) and macros; not
    yet locked down."""
    config: dict[str, Any] = {**_CONNECT_CONFIG, "threads": threads}
    if memory_mb is not None:
        config["memory_limit"] = f"{memory_mb}MB"
    con = duckdb.connect(":memory:", config=config)
    for statement in (*functions.MACROS, *tables.SETUP):
        con.execute(statement)
    for name, columns in tables.RAW.items():
        cols = ", ".join(f"{c} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE {name} ({cols})")
    for name in tables.VIEWS if views is None else sorted(views):
        con.execute(f"CREATE VIEW {name} AS {tables.VIEWS[name]}")
    return con


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file or network access from now on, and no setting can be changed back."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


_empty: duckdb.DuckDBPyConnection | None = None
_empty_lock = threading.Lock()
_empty_views: set[str] = set()


def check(prepared: Prepared) -> Prepared:
    """Bind the query against empty AMC tables; raises `AmcSqlError` (unknown column, ...).

    Binding only: nothing runs (a query that never ends is caught by `run`'s time limit).
    A query whose user-coverage rewrite does not bind is refused: it would otherwise run
    without the aggregation threshold.
    """
    global _empty
    with _empty_lock:
        if _empty is None:
            _empty = _connect(threads=1, views=())
            _lock_down(_empty)
        con = _empty
        for name in sorted(prepared.views - _empty_views):  # a table's view when first read
            con.execute(f"CREATE VIEW {name} AS {tables.VIEWS[name]}")
            _empty_views.add(name)
        _set_window(con, Window(datetime(2000, 1, 1), datetime(2000, 1, 2)))
        functions.set_clock(con, datetime(2000, 1, 2))
        for extension in prepared.extensions:  # the same columns as the table
            columns = ", ".join(extension.columns) or "*"
            con.execute(
                f"CREATE TEMP VIEW {extension.name} AS SELECT {columns} FROM {extension.table}"
            )
        try:
            _bind(con, prepared)
        finally:
            for extension in prepared.extensions:
                con.execute(f"DROP VIEW IF EXISTS {extension.name}")
    return prepared


def _bind(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
    try:
        con.sql(prepared.sql)
    except duckdb.Error as exc:
        raise AmcSqlError(_duckdb_error(exc, prepared.tree)) from None
    try:
        con.sql(prepared.tracked_sql)
    except duckdb.Error as exc:
        log.warning("user-coverage rewrite does not bind: %s", exc)
        raise AmcSqlError(
            SqlError(coverage.UNSUPPORTED_MESSAGE.format(what="this query's shape"))
        ) from None


def _set_window(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    con.execute(f"SET VARIABLE window_start = CAST({_local_seconds(window.start)} AS BIGINT)")
    con.execute(f"SET VARIABLE window_end = CAST({_local_seconds(window.end)} AS BIGINT)")
    con.execute("SET VARIABLE time_zone = ?", [window.time_zone])


def _local_seconds(moment: datetime) -> int:
    """Seconds of a naive local time since 1970-01-01 00:00 of the same clock."""
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return world.local_epoch(moment.date()) + seconds


_QUOTED = re.compile(r'"([^"]+)"')
_NO_SUCH_COLUMN = re.compile(r'"([^"]+)" does not have a column named "([^"]+)"')


def _duckdb_error(exc: duckdb.Error, tree: exp.Query) -> SqlError:
    """DuckDB's error in AMC's words, pointing into the original query where possible."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = re.sub(r"^[A-Za-z ]+ Error: ", "", first).rstrip("!")
    message = message.replace("__amc_users", "users")
    line = column = None
    qualified = _NO_SUCH_COLUMN.search(message)  # `t.x` where `t` has no column `x`
    names = _QUOTED.findall(message) + re.findall(r"with name (\w+)", message)
    converting = _CONVERSION.search(message)
    comparing = _COMPARISON.search(message)
    if converting:  # a string compared with (or cast to) a number
        value, to, source = converting.groups()
        names = [source] if source else []
        where = f" in column {source!r}" if source else ""
        message = (
            f"cannot convert the string {value!r}{where} to {_amc_type(to)}: compare strings "
            "with strings, or CAST the column explicitly"
        )
    elif comparing:
        left, right = (_amc_type(t) for t in comparing.groups())
        message = f"cannot compare {left} with {right} values: CAST one side to the other's type"
    elif calling := _CALL.search(message):  # no function (or operator) takes these types
        function, arguments = calling.groups()
        types = ", ".join(_amc_type(t.removesuffix("_LITERAL")) for t in _arguments(arguments))
        if re.fullmatch(r"\w+", function):
            names = [function]
            message = f"Function {function!r} does not take ({types}): CAST the arguments"
        else:
            names = []
            message = f"operator {function!r} does not take ({types}): CAST one side"
    if qualified:
        names = [qualified.group(2)]
        message = f"Column {'.'.join(qualified.groups())!r} cannot be resolved"
        message += _did_you_mean(names[0], tree)
    for name in names:
        node = _find_named(tree, name.split(".")[-1])
        if node is not None:
            line, column = position_of(node) or (None, None)
            break
    if names and any(phrase in message for phrase in _UNRESOLVED):
        message = f"Column {names[0]!r} cannot be resolved" + _did_you_mean(names[0], tree)
    elif "does not exist" in message and "Function" in message and names:
        message = f"Function {names[0]!r} is not registered"
    return SqlError(message, line, column)


_CONVERSION = re.compile(
    r"Could not convert string '(.*?)' to (\w+)(?: when casting from source column (\w+))?"
)
_COMPARISON = re.compile(r"Cannot compare values of type (\w+) and (\w+)")
_CALL = re.compile(
    r"(?:No function matches the given name and argument types '|"
    r"Could not choose a best candidate function for the function call \")([^(]+)\((.*)\)['\"]"
)


def _arguments(text: str) -> list[str]:
    """DuckDB's argument types ``INTEGER, DECIMAL(3,2)``, split at top-level commas."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


# DuckDB's ways of saying a column does not exist where it is read.
_UNRESOLVED = ("not found in FROM clause", "cannot be referenced before it is defined")


def _did_you_mean(name: str, tree: exp.Query) -> str:
    """` (did you mean 'x'?)`: the closest columns, by spelling, of the tables where `name` is
    read (the one its qualifier names, else every table of its FROM); empty when none is close."""
    close = nearest(name.lower(), _columns_beside(name, tree))
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


_CLOSE_ENOUGH = 0.7  # difflib's similarity ratio: 'impression_dt' ~ 'impression_date' is 0.86
_AS_CLOSE = 0.05  # other names this near the best one are named too (at most three)


def nearest(name: str, candidates: Iterable[str]) -> list[str]:
    """The candidates spelled most like `name` (similarity ratio), best first; [] if none is."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, name, c).ratio(), c) for c in set(candidates)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not scored or scored[0][0] < _CLOSE_ENOUGH:
        return []
    best = scored[0][0]
    return [c for ratio, c in scored[:3] if ratio >= max(_CLOSE_ENOUGH, best - _AS_CLOSE)]


def _columns_beside(name: str, tree: exp.Query) -> set[str]:
    """The columns of the relations a reference to column `name` may read, in its own scope."""
    wanted = name.lower()
    columns: set[str] = set()
    for scope in traverse_scope(tree):
        for column in scope.columns:
            if column.name.lower() != wanted:
                continue
            sources = scope.selected_sources
            selected = [sources[column.table]] if column.table in sources else sources.values()
            for _, source in selected:
                if isinstance(source, Scope):
                    columns.update(c.lower() for c in source.expression.named_selects)
                elif isinstance(source, exp.Table) and source.name.lower() in tables.TABLES:
                    columns.update(tables.columns(source.name.lower()))
    columns.discard(wanted)
    return columns


def _find_named(tree: exp.Expression, name: str) -> exp.Expression | None:
    wanted = name.lower()
    for node in tree.walk():
        if isinstance(node, exp.Column | exp.Anonymous | exp.Func | exp.Identifier):
            own = (
                node.name
                if not isinstance(node, exp.Func)
                else (node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this))
            )
            if str(own).lower() == wanted:
                return node
    return None


# -- running --------------------------------------------------------------------------------------

_running: set[duckdb.DuckDBPyConnection] = set()
_running_lock = threading.Lock()
_FETCH_ROWS = 10_000


@dataclass(frozen=True)
class Limits:
    """What one query may use: wall-clock seconds (loading its data included) and memory (MiB,
    DuckDB's working memory, and again for the result rows it hands back)."""

    seconds: float = 60.0
    memory_mb: int = 1024


class QueryInterrupted(Exception):
    """A query stopped by `interrupt_all` (the sandbox is shutting down)."""


class LimitExceeded(AmcSqlError):
    """A query stopped by its time or memory limit; the message is the AMC-like failure reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(SqlError(reason))


def interrupt_all() -> None:
    """Interrupt every query running in this process."""
    with _running_lock:
        for con in _running:
            con.interrupt()


def run(
    prepared: Prepared,
    window: Window,
    data: DataSettings,
    *,
    threshold: int | None = None,
    discriminator_column: str | None = None,
    user_count_column: str | None = None,
    threads: int = 2,
    limits: Limits = Limits(),  # noqa: B008 - frozen
    cancelled: Callable[[], bool] = lambda: False,
) -> QueryResult:
    """Run a prepared query on the window's data; raises `AmcSqlError` on a runtime error.

    Past ``limits.seconds`` the query is interrupted, and DuckDB (no disk to spill to) fails it
    past ``limits.memory_mb``: `LimitExceeded`. `interrupt_all` stops a running query,
    ``cancelled`` the loading of its data (then `QueryInterrupted`). ``threshold``: the
    distinct users a row must cover (None: the query's, `Prepared.threshold`).
    """
    if threshold is None:
        threshold = prepared.threshold
    con = _connect(threads, limits.memory_mb, prepared.views)
    finished, timed_out = threading.Event(), threading.Event()

    def watch() -> None:  # past the limit, interrupt until the query gives up
        if finished.wait(limits.seconds):
            return
        timed_out.set()
        while not finished.is_set():
            with contextlib.suppress(duckdb.Error):
                con.interrupt()
            finished.wait(0.2)

    watchdog = threading.Thread(target=watch, name="sandbox-sql-limit", daemon=True)
    watchdog.start()
    with _running_lock:
        _running.add(con)
    try:
        stop = lambda: cancelled() or timed_out.is_set()  # noqa: E731
        for extension in prepared.extensions:
            _load_extended(con, extension, window, data, stop)
        _load(con, prepared.tables, window, data, stop)
        _set_window(con, window)
        functions.set_clock(con, data.data_as_of)
        _lock_down(con)
        cursor = con.execute(_tracked_sql(prepared, threshold, user_count_column))
        description = cursor.description or []
        width = len(description) - 1  # the users column is last
        dims = list(prepared.dimensions) + [True] * (width - len(prepared.dimensions))
        threshold_of = _Threshold(
            threshold, dims, discriminator_column, user_count_column, prepared.column_users
        )
        kept = threshold_of.merge(_fetch(cursor, limits.memory_mb << 20, threshold_of.apply))
    except (duckdb.InterruptException, QueryInterrupted):
        if timed_out.is_set():
            raise _ran_too_long(limits) from None
        raise QueryInterrupted() from None
    except duckdb.OutOfMemoryException:
        raise LimitExceeded(
            f"Query exceeded resource limits: it needed more than {limits.memory_mb} MB of memory"
        ) from None
    except duckdb.Error as exc:
        raise AmcSqlError(_duckdb_error(exc, prepared.tree)) from None
    finally:
        finished.set()
        watchdog.join()
        with _running_lock:
            _running.discard(con)
        con.close()
    if timed_out.is_set():
        # Interrupted past the limit, yet DuckDB returned rather than raised: what it returned
        # may be cut short, and the query did run longer than the limit.
        raise _ran_too_long(limits)
    columns = [Column(str(d[0]), _amc_type(d[1])) for d in description]
    columns = columns[:-1]
    if discriminator_column is not None:
        columns.append(Column(discriminator_column, "BOOLEAN"))
    if user_count_column is not None:
        columns.append(Column(user_count_column, "LONG"))
    return QueryResult(tuple(columns), kept, threshold_of.filtered, threshold)


def _ran_too_long(limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        f"Query exceeded resource limits: it ran longer than {limits.seconds:g} seconds"
    )


def _tracked_sql(prepared: Prepared, threshold: int, user_count_column: str | None) -> str:
    """The query with users counted up to the threshold, or exactly when the workflow asks for
    the count (``distinctUserCountColumn``) or the threshold is above the prepared cut."""
    if user_count_column is None and threshold <= AGGREGATION_THRESHOLD:
        return prepared.tracked_sql
    return coverage.track_users(prepared.tree, prepared.user_tables).sql(dialect="duckdb")


class _Threshold:
    """AMC's aggregation threshold on result rows (their users column last): a row under it is
    dropped or, with ``discriminator_column``, kept and marked, showing only the values its users
    allow (``needs``: per column, `coverage.output_users`); `merge` then re-aggregates those."""

    def __init__(
        self,
        threshold: int,
        dimensions: list[bool],
        discriminator_column: str | None,
        user_count_column: str | None,
        needs: Sequence[int] = (),
    ) -> None:
        self.threshold = threshold
        self.dimensions = dimensions
        padded = [*needs, *[AGGREGATION_THRESHOLD] * len(dimensions)]
        self.needs = padded[: len(dimensions)]
        self.discriminator_column = discriminator_column
        self.user_count_column = user_count_column
        self.filtered = 0

    def apply(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        kept: list[tuple[Any, ...]] = []
        for row in rows:
            users = int(row[-1] or 0)
            values = row[:-1]
            if users >= self.threshold:
                out = values
                marked = False
            else:
                self.filtered += 1
                if self.discriminator_column is None or all(self.dimensions):
                    continue
                shown = zip(values, self.needs, strict=True)
                out = tuple(v if users >= need else None for v, need in shown)
                marked = True
            if self.discriminator_column is not None:
                out = (*out, marked)
            if self.user_count_column is not None:
                out = (*out, users)
            kept.append(out)
        return kept

    def merge(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """AMC re-aggregates the marked rows (SUM): those equal in their GROUP BY columns, once
        blanked, become one row, their metrics (and users) added up."""
        if self.discriminator_column is None:
            return rows
        width = len(self.dimensions)
        unmarked: list[tuple[Any, ...]] = []
        merged: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            if not row[width]:
                unmarked.append(row)
                continue
            key = tuple(v for v, dim in zip(row[:width], self.dimensions, strict=True) if dim)
            into = merged.get(key)
            if into is None:
                merged[key] = list(row)
                continue
            for i, dim in enumerate(self.dimensions):
                if not dim:
                    into[i] = _sum(into[i], row[i])
            if self.user_count_column is not None:
                into[-1] = _sum(into[-1], row[-1])
        return unmarked + [tuple(row) for row in merged.values()]


def _sum(a: Any, b: Any) -> Any:
    """SQL's SUM of two values (NULLs ignored); a value that is no number: NULL."""
    if a is None or b is None:
        return b if a is None else a
    numbers = (int, float, Decimal)
    return a + b if isinstance(a, numbers) and isinstance(b, numbers) else None


def _fetch(
    cursor: duckdb.DuckDBPyConnection,
    budget: int,
    keep: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    """The rows ``keep`` keeps of the result, fetched in chunks (rows it drops are never held
    together); past ``budget`` bytes (estimated) of kept rows, DuckDB's out-of-memory."""
    rows: list[tuple[Any, ...]] = []
    used = 0
    while chunk := cursor.fetchmany(_FETCH_ROWS):
        kept = keep(chunk)
        used += sum(_row_bytes(row) for row in kept)
        if used > budget:
            raise duckdb.OutOfMemoryException("the result rows exceed the memory limit")
        rows.extend(kept)
    return rows


def _row_bytes(row: tuple[Any, ...]) -> int:
    """About what a fetched row costs in Python (a tuple, its values, their text)."""
    return 56 + sum(49 + len(v) if isinstance(v, str) else 32 for v in row)


def _amc_type(duck_type: Any) -> str:
    text = str(duck_type).upper()
    mapping = {
        "BIGINT": "LONG",
        "HUGEINT": "LONG",
        "INTEGER": "INTEGER",
        "SMALLINT": "INTEGER",
        "TINYINT": "INTEGER",
        "UBIGINT": "LONG",
        "VARCHAR": "STRING",
        "STRING": "STRING",
        "DOUBLE": "DOUBLE",
        "FLOAT": "DOUBLE",
        "BOOLEAN": "BOOLEAN",
        "BOOL": "BOOLEAN",
        "DATE": "DATE",
        "TIMESTAMP": "TIMESTAMP",
        "NUMBER": "DECIMAL",
        "BLOB": "BINARY",  # TO_VARBINARY
        "INT64": "LONG",  # DuckDB's names in its conversion errors
        "INT32": "INTEGER",
        "INT16": "INTEGER",
        "INT8": "INTEGER",
        "UUID": "STRING",
    }
    if text.endswith("[]"):
        return f"ARRAY<{_amc_type(text[:-2])}>"
    for nested in ("STRUCT", "MAP"):  # NAMED_ROW, STR_TO_MAP
        if text.startswith(f"{nested}("):
            return nested
    return mapping.get(text, text.replace(" ", ""))


def _load(
    con: duckdb.DuckDBPyConnection,
    used: frozenset[str],
    window: Window,
    data: DataSettings,
    cancelled: Callable[[], bool],
) -> None:
    """Fill the raw relations with what the used tables need of the window's events."""
    w = world.world(data.instance_id, data.impressions_per_day)
    zone = ZoneInfo(window.time_zone)
    as_of = _local_seconds(data.data_as_of.astimezone(zone).replace(tzinfo=None))
    start, end = _local_seconds(window.start), _local_seconds(window.end)
    needs_traffic = bool(used & tables.READS_TRAFFIC)
    needs_conversions = bool(used & tables.READS_CONVERSIONS)
    first_day = (
        window.start - timedelta(days=14) if used & tables.READS_EARLIER_TRAFFIC else window.start
    )
    days = [d for d in world.days_between(first_day, window.end)]
    traffic_parts: list[pd.DataFrame] = []
    conversion_parts: list[pd.DataFrame] = []
    for day in days:
        if cancelled():
            raise QueryInterrupted()
        events = world.day_events(data.instance_id, data.impressions_per_day, day)
        eid = day.toordinal() * 100_000_000 + np.arange(events.traffic_count, dtype=np.int64)
        if needs_traffic:
            keep = (events.ts >= start) & (events.ts < end) & (events.ts <= as_of)
            if keep.any():
                traffic_parts.append(_traffic_frame(events, eid, keep, zone))
        if needs_conversions:
            keep = events.arrival_ts <= as_of
            if keep.any():
                conversion_parts.append(_conversion_frame(events, eid, keep, zone, day))
    _insert(con, "_traffic", traffic_parts)
    _insert(con, "_conversions", conversion_parts)
    _insert_dimensions(con, w, data.marketplace_id)


def _load_extended(
    con: duckdb.DuckDBPyConnection,
    extension: Extension,
    window: Window,
    data: DataSettings,
    cancelled: Callable[[], bool],
) -> None:
    """The extended table's rows over its longer window, kept as the relation the query reads;
    the raw relations are emptied again for the query's own window."""
    longer = extension.window(window)
    _load(con, frozenset({extension.table}), longer, data, cancelled)
    _set_window(con, longer)
    columns = ", ".join(extension.columns) or "*"
    con.execute(f"CREATE TEMP TABLE {extension.name} AS SELECT {columns} FROM {extension.table}")
    for raw in tables.RAW:
        con.execute(f"DELETE FROM {raw}")


def _insert(con: duckdb.DuckDBPyConnection, name: str, parts: Sequence[pd.DataFrame]) -> None:
    if not parts:
        return
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    con.register("_frame", frame)
    columns = ", ".join(tables.RAW[name])
    con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM _frame")
    con.unregister("_frame")


def _utc(local: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Local-clock seconds to UTC seconds (offsets looked up once per hour)."""
    if len(local) == 0:
        return local
    hours = local // 3600
    unique, inverse = np.unique(hours, return_inverse=True)
    offsets = np.array(
        [
            int(
                (datetime(1970, 1, 1) + timedelta(hours=int(h)))
                .replace(tzinfo=zone)
                .utcoffset()
                .total_seconds()  # type: ignore[union-attr]
            )
            for h in unique
        ],
        dtype=np.int64,
    )
    return local - offsets[inverse]


# Raw column -> DayEvents field, of a traffic event (also copied onto its conversions).
_TRAFFIC_FIELDS = {
    "kind": "kind",
    "campaign": "campaign",
    "line_item": "line_item",
    "creative": "creative",
    "usr": "user",
    "device": "device",
    "term": "search_term",
    "match": "match_type",
}


def _traffic_of(events: world.DayEvents, index: np.ndarray) -> dict[str, np.ndarray]:
    return {column: getattr(events, field)[index] for column, field in _TRAFFIC_FIELDS.items()}


def _traffic_frame(
    events: world.DayEvents, eid: np.ndarray, keep: np.ndarray, zone: ZoneInfo
) -> pd.DataFrame:
    ts = events.ts[keep]
    return pd.DataFrame(
        {
            "eid": eid[keep],
            "ts": ts,
            "ts_utc": _utc(ts, zone),
            **_traffic_of(events, keep),
            "cost": events.cost[keep],
            "viewable": events.viewable[keep],
        }
    )


def _conversion_frame(
    events: world.DayEvents, eid: np.ndarray, keep: np.ndarray, zone: ZoneInfo, day: date
) -> pd.DataFrame:
    source = events.traffic[keep]
    ts = events.conversion_ts[keep]
    t_ts = events.ts[source]
    return pd.DataFrame(
        {
            "cid": day.toordinal() * 100_000_000 + np.nonzero(keep)[0].astype(np.int64),
            "ts": ts,
            "ts_utc": _utc(ts, zone),
            "subtype": events.subtype[keep],
            "asin": events.asin[keep],
            "units": events.units[keep],
            "sales_cents": events.sales_cents[keep],
            "halo": events.halo[keep],
            "eid": eid[source],
            "t_ts": t_ts,
            "t_ts_utc": _utc(t_ts, zone),
            **_traffic_of(events, source),
        }
    )


def _insert_dimensions(con: duckdb.DuckDBPyConnection, w: world.World, marketplace_id: str) -> None:
    """The instance's campaigns, line items, creatives, users, ASINs and the lookup tables."""
    campaigns, items, creatives = w.campaigns, w.line_items, w.creatives
    market = MARKETPLACES.get(marketplace_id, MARKETPLACES["ATVPDKIKX0DER"])
    tables_columns: dict[str, dict[str, Any]] = {
        "_campaigns": {
            "campaign": [c.index for c in campaigns],
            "campaign_id": [c.campaign_id for c in campaigns],
            "campaign_name": [c.name for c in campaigns],
            "ad_product_type": [c.ad_product_type for c in campaigns],
            "advertiser": [w.brand] * len(campaigns),
            "advertiser_id": [w.advertiser_id] * len(campaigns),
        },
        "_line_items": {
            "line_item": [li.index for li in items],
            "line_item_id": [li.line_item_id for li in items],
            "line_item_name": [li.name for li in items],
        },
        "_creatives": {
            "creative": [c.index for c in creatives],
            "creative_id": [c.creative_id for c in creatives],
            "creative_name": [c.name for c in creatives],
            "creative_type": [c.creative_type for c in creatives],
            "creative_size": [c.creative_size for c in creatives],
            "creative_asin": [w.asins[c.asin] for c in creatives],
        },
        "_asins": {"asin": range(len(w.asins)), "asin_code": w.asins, "unit_price": w.asin_prices},
        "_devices": {
            "device": range(len(world.DEVICES)),
            "device_type": [device for device, _ in world.DEVICES],
            "operating_system": [system for _, system in world.DEVICES],
        },
        "_terms": {"term": range(len(w.search_terms)), "search_term": w.search_terms},
        "_match_types": {"match": range(len(world.MATCH_TYPES)), "match_type": world.MATCH_TYPES},
        "_market": {
            "marketplace_name": [market[0]],
            "marketplace_id": [market[1]],
            "currency": [market[2]],
        },
    }
    for name, columns in tables_columns.items():
        _insert(con, name, [pd.DataFrame(columns)])
    users = pd.DataFrame(
        {"usr": np.arange(w.users, dtype=np.int32), "user_new_to_brand": w.user_new_to_brand}
    )
    con.register("_frame", users)
    con.execute(
        "INSERT INTO _users "
        "SELECT usr, substr(md5(? || usr), 1, 24), user_new_to_brand FROM _frame",
        [w.user_salt],
    )
    con.unregister("_frame")


def now_utc() -> datetime:
    return datetime.now(UTC)
