"""AMC's SQL functions in DuckDB, where sqlglot's Spark-to-DuckDB translation does not cover them.

AMC's function reference (the "AMC SQL functions" and "Supported expressions" pages) lists
functions Spark lacks, and semantics that differ from DuckDB's. `translate` rewrites a parsed
query in place, before the user-coverage rewrite sees it (``COLLECT`` becomes an aggregate it
follows); `MACROS` define the rest on every engine connection, and `set_clock` the moment
``CURRENT_DATE``, ``CAST('today' AS DATE)`` and the like stand for (the run's "now").

- ``COLLECT([ALL | DISTINCT] x)``: the list of the group's values, nulls included.
- ``NAMED_ROW('label', value, ...)``: a struct of the labelled values.
- ``CONTAINED_IN(x, a, b, ...)``: ``x IN (a, b, ...)``.
- ``DAYOFWEEK`` and ``EXTRACT(DOW ...)``: 1-7, Sunday 1 (DuckDB: 0-6, Sunday 0).
- ``CURRENT_DATE``, ``CURRENT_TIMESTAMP``, ``NOW()`` and Spark's special strings in a cast
  (``'today'``, ``'now'``, ``'yesterday'``, ``'tomorrow'``, ``'epoch'``): the run's clock, in UTC.
- ``UUID()``: a STRING. ``GREATEST`` / ``LEAST``: NULL when any input is NULL.
- Macros: ``E``, ``REGEXP_SUBSTR``, ``STR_TO_MAP``, ``CONVERT_TIME_ZONE_FROM_UTC``,
  ``EPOCH_TO_UTC_TIMESTAMP``, ``ARRAY_COMPLEMENT``, ``ARRAY_UNION``, ``HASH64``,
  ``TO_VARBINARY`` / ``FROM_VARBINARY``, ``JSON_SERIALIZE``, and ``SECONDS_BETWEEN`` (minutes,
  hours, days).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb
from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from amc_reports.amc_sql import SqlError, position_of
from amc_reports.local.sandbox.lineage import Lineage

_BETWEEN = tuple(
    f"CREATE MACRO {unit}s_between(a, b) AS "
    f"date_diff('{unit}', CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP))"
    for unit in ("second", "minute", "hour", "day")
)

MACROS: tuple[str, ...] = (
    *_BETWEEN,
    "CREATE MACRO e() AS exp(1)",
    "CREATE MACRO regexp_substr(s, p) AS "
    "CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p) END",
    "CREATE MACRO str_to_map(s, pairs, kv) AS map_from_entries(list_transform("
    "string_split(s, pairs), lambda x: {'k': split_part(x, kv, 1), "
    "'v': CASE WHEN strpos(x, kv) > 0 THEN x[strpos(x, kv) + length(kv):] END}))",
    # the input is a UTC time; the result that time on the zone's clock
    "CREATE MACRO convert_time_zone_from_utc(t, zone) AS "
    "timezone(zone, timezone('UTC', CAST(t AS TIMESTAMP)))",
    # seconds, or milliseconds when the number is too large to be seconds (past year 5138)
    "CREATE MACRO epoch_to_utc_timestamp(x) AS CASE WHEN abs(x) >= 100000000000 "
    "THEN make_timestamp(CAST(CAST(x AS DOUBLE) * 1000 AS BIGINT)) "
    "ELSE make_timestamp(CAST(CAST(x AS DOUBLE) * 1000000 AS BIGINT)) END",
    "CREATE MACRO array_complement(a, b) AS list_filter(a, lambda x: NOT list_contains(b, x))",
    "CREATE MACRO array_union(a, b) AS list_distinct(list_concat(a, b))",
    # DuckDB's 64-bit hash is unsigned; AMC's HASH64 a LONG
    "CREATE MACRO hash64(x) AS CAST(CAST(hash(x) AS HUGEINT) - 9223372036854775808 AS BIGINT)",
    "CREATE MACRO to_varbinary(s, kind) AS CASE lower(kind) WHEN 'hex' THEN unhex(s) "
    "WHEN 'base64' THEN from_base64(s) WHEN 'utf-8' THEN encode(s) END",
    "CREATE MACRO from_varbinary(b, kind) AS CASE lower(kind) WHEN 'hex' THEN lower(hex(b)) "
    "WHEN 'base64' THEN to_base64(b) WHEN 'utf-8' THEN decode(b) END",
    "CREATE MACRO json_serialize(j) AS CAST(CAST(j AS JSON) AS VARCHAR)",
)

# Spark's special date and time strings (AMC documents 'today' and 'now'): days from today.
_SPECIAL_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}
_TIMESTAMPS = ("timestamp", "timestampltz", "timestamptz", "timestampntz", "datetime")
_NOW = "amc_now"  # the DuckDB variable holding the run's "now" (UTC, naive)
NAMED_ROW_ARGUMENTS = "NAMED_ROW takes pairs of a quoted label and a value"


def set_clock(con: duckdb.DuckDBPyConnection, now_utc: datetime) -> None:
    """What "now" is for the query's clock functions: ``now_utc`` (naive UTC, or aware)."""
    if now_utc.tzinfo is not None:
        now_utc = now_utc.astimezone(UTC).replace(tzinfo=None)
    con.execute(f"SET VARIABLE {_NOW} = TIMESTAMP '{now_utc:%Y-%m-%d %H:%M:%S.%f}'")


def translate(tree: exp.Expression) -> list[SqlError]:
    """Rewrite AMC's functions in ``tree`` (in place) into what DuckDB runs; an error for each
    call that cannot be (its place in the query)."""
    problems: list[SqlError] = []
    for node in reversed(list(tree.walk(bfs=False))):  # inner calls first
        rewrite = _rewrite_of(node)
        if rewrite is None:
            continue
        try:
            replacement = rewrite(node)
        except _Refused as refused:
            line, column = position_of(node) or (None, None)
            problems.append(SqlError(str(refused), line, column))
            continue
        if replacement is not node:
            node.replace(replacement)
    return problems


class _Refused(Exception):
    """A call of an AMC function with arguments it does not take (the message says why)."""


def _rewrite_of(node: exp.Expression) -> Callable[[exp.Expression], exp.Expression] | None:
    if isinstance(node, exp.Anonymous):
        return _ANONYMOUS.get(str(node.this).upper())
    for kind, rewrite in _TYPED:
        if isinstance(node, kind):
            return rewrite
    return None


def _collect(node: exp.Expression) -> exp.Expression:
    args = node.expressions
    if len(args) != 1:
        raise _Refused("COLLECT takes one value: COLLECT([ALL | DISTINCT] value)")
    return exp.ArrayAgg(this=args[0])


def _named_row(node: exp.Expression) -> exp.Expression:
    args = node.expressions
    labels = args[0::2]
    if (
        not args
        or len(args) % 2
        or not all(isinstance(a, exp.Literal) and a.is_string and a.name for a in labels)
    ):
        raise _Refused(NAMED_ROW_ARGUMENTS)
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(label.name, quoted=True), expression=value)
        for label, value in zip(labels, args[1::2], strict=True)
    ]
    return exp.Struct(expressions=fields)


def _contained_in(node: exp.Expression) -> exp.Expression:
    args = node.expressions
    if len(args) < 2:
        raise _Refused("CONTAINED_IN takes a value and at least one value to look for")
    return exp.In(this=args[0], expressions=args[1:])


def _now(node: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="getvariable", expressions=[exp.Literal.string(_NOW)])


def _today() -> exp.Expression:
    return exp.cast(_now(exp.Null()), "DATE")


def _current_date(node: exp.Expression) -> exp.Expression:
    return _today()


def _special_cast(node: exp.Expression) -> exp.Expression:
    """``CAST('today' AS DATE)`` and Spark's other special strings: the run's clock."""
    value = node.this
    if not (isinstance(value, exp.Literal) and value.is_string):
        return node
    text = value.name.strip().lower()
    to = node.to
    if to.is_type("date"):
        to = exp.DataType.build("DATE")
    elif to.is_type(*_TIMESTAMPS):
        to = exp.DataType.build("TIMESTAMP")
    else:
        return node
    if text == "epoch":
        moment: exp.Expression = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "TIMESTAMP")
    elif text == "now" and to.is_type("timestamp"):
        moment = _now(node)
    elif text in _SPECIAL_DAYS:
        days = _SPECIAL_DAYS[text]
        moment = exp.cast(_today(), "TIMESTAMP")
        if days:
            moment = exp.Add(
                this=moment,
                expression=exp.Interval(
                    this=exp.Literal.string(str(days)), unit=exp.Var(this="DAY")
                ),
            )
    else:
        return node
    return exp.cast(moment, to)


def _day_of_week(node: exp.Expression) -> exp.Expression:
    """AMC's day of the week is 1-7 with Sunday 1; DuckDB's 0-6 with Sunday 0."""
    return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))


def _extract(node: exp.Expression) -> exp.Expression:
    unit = node.this.name.upper() if isinstance(node.this, exp.Var | exp.Identifier) else ""
    return _day_of_week(node) if unit in ("DOW", "DAYOFWEEK") else node


def _uuid(node: exp.Expression) -> exp.Expression:
    return exp.cast(node.copy(), "VARCHAR")


def _null_if_any_null(node: exp.Expression) -> exp.Expression:
    """GREATEST / LEAST are NULL when any input is NULL, as AMC documents."""
    inputs = [node.this, *node.expressions]
    any_null = exp.or_(*(exp.Is(this=i.copy(), expression=exp.Null()) for i in inputs))
    plain = node.copy()
    plain.set("ignore_nulls", None)
    return exp.Case(ifs=[exp.If(this=any_null, true=exp.Null())], default=plain)


_ANONYMOUS: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "COLLECT": _collect,
    "NAMED_ROW": _named_row,
    "CONTAINED_IN": _contained_in,
    "NOW": _now,
}
_TYPED: tuple[tuple[type[exp.Expression], Callable[[exp.Expression], exp.Expression]], ...] = (
    (exp.CurrentDate, _current_date),
    (exp.CurrentTimestamp, _now),
    (exp.Cast, _special_cast),  # TryCast too (Spark's CAST)
    (exp.DayOfWeek, _day_of_week),
    (exp.Extract, _extract),
    (exp.Uuid, _uuid),
    (exp.Greatest, _null_if_any_null),
    (exp.Least, _null_if_any_null),
)


# -- a string compared with a number ---------------------------------------------------------------

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_STRING_TYPES = ("text", "varchar", "char", "nvarchar", "nchar")


def compare_strings_as_numbers(
    tree: exp.Expression, column_type: Callable[[str, str], str | None]
) -> None:
    """AMC (Spark) compares a string with a number as numbers, a string that is no number being
    NULL (``frequency = 1`` where frequency holds '10+'); DuckDB fails the whole query. Each
    comparison of a number literal with an expression known to be a string (a string literal,
    a cast to a string, a CASE of strings, a table's STRING column or a CTE's or subquery's
    column of one of those) reads the string with ``TRY_CAST(... AS DOUBLE)``, in place.
    ``column_type(table, column)``: an AMC table column's type (``STRING``, ...), or None."""
    lineage = Lineage(tree)
    if lineage.root is None:
        return
    strings = _Strings(lineage, column_type)
    for scope in lineage.root.traverse():
        for node in _own_nodes(scope.expression):
            sides = _number_compared(node)
            if sides is None:
                continue
            for side in sides:
                if strings.is_string(side, scope):
                    side.replace(exp.TryCast(this=side.copy(), to=exp.DataType.build("DOUBLE")))


def _number_compared(node: exp.Expression) -> list[exp.Expression] | None:
    """The non-literal sides of a comparison with a number literal, or None."""
    if isinstance(node, _COMPARISONS):
        left, right = node.this, node.expression
        if _is_number(right) and not _is_number(left):
            return [left]
        if _is_number(left) and not _is_number(right):
            return [right]
        return None
    if isinstance(node, exp.In) and node.expressions and all(map(_is_number, node.expressions)):
        return [node.this]
    return None


def _is_number(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg | exp.Paren):
        return _is_number(node.this)
    return isinstance(node, exp.Literal) and not node.is_string


def _own_nodes(select: exp.Expression) -> list[exp.Expression]:
    """The nodes of one scope's query (not of the subqueries and CTEs it holds)."""

    def inner(node: exp.Expression) -> bool:
        return node is not select and isinstance(
            node, exp.Subquery | exp.Select | exp.CTE | exp.SetOperation | exp.Lateral
        )

    return list(select.walk(bfs=False, prune=inner))


class _Strings:
    def __init__(self, lineage: Lineage, column_type: Callable[[str, str], str | None]) -> None:
        self.lineage = lineage
        self.column_type = column_type

    def is_string(self, node: exp.Expression, scope: Scope) -> bool:
        if isinstance(node, exp.Paren):
            return self.is_string(node.this, scope)
        if isinstance(node, exp.Literal):
            return node.is_string
        if isinstance(node, exp.Cast | exp.TryCast):
            return node.to.is_type(*_STRING_TYPES)
        if isinstance(node, exp.Concat | exp.DPipe | exp.Upper | exp.Lower):
            return True
        if isinstance(node, exp.Case):
            results = [i.args.get("true") for i in node.args.get("ifs") or []]
            results.append(node.args.get("default"))
            known = [r for r in results if r is not None and not isinstance(r, exp.Null)]
            return bool(known) and all(self.is_string(r, scope) for r in known)
        if isinstance(node, exp.Column):
            name = node.name.lower()
            found = [self.source_is_string(s, name) for s in self.lineage.sources(node, scope)]
            return any(f is True for f in found) and not any(f is False for f in found)
        return False

    def source_is_string(self, source: Any, name: str) -> bool | None:
        """Whether the relation's column ``name`` is a string (None: it has no such column)."""
        if isinstance(source, exp.Table):
            kind = self.column_type(source.name.lower(), name)
            return None if kind is None else kind.upper() == "STRING"
        if not isinstance(source, Scope):
            return None
        return self.lineage.follow(
            source, name, lambda: self._scope_is_string(source, name), cycle=False
        )

    def _scope_is_string(self, source: Scope, name: str) -> bool | None:
        select = source.expression
        while isinstance(select, exp.SetOperation):
            select = select.left  # the first SELECT of a UNION names and types its columns
        if not isinstance(select, exp.Select):
            return None
        for projection in select.expressions:
            if projection.alias_or_name.lower() == name:
                inner = projection.this if isinstance(projection, exp.Alias) else projection
                scope = self.lineage.scopes.get(id(select), source)
                return self.is_string(inner, scope)
        return None
