"""Read AMC SQL before anything runs it: the one reader for live runs, the config, the sandbox.

AMC's query language is Spark-SQL-like; sqlglot's Spark dialect reads it (AMC's own functions such
as ``SECONDS_BETWEEN`` or ``BUILT_IN_PARAMETER`` parse as ordinary function calls). The check is
deliberately forgiving: it refuses only what cannot be a query at all (a syntax error, several
statements, anything but a SELECT), so that a valid AMC query is never refused before AMC sees it.
Unknown tables, columns and functions are for AMC, or for the sandbox, to report.

`statement_error` answers from the tokens alone (whether the text is one SELECT statement, even
one with a syntax error), as AMC's request validation does; `custom_parameters` names the
parameters a query uses.

    error = parse_amc_sql(sql)
    if error is not None:
        print(error)  # "line 1:73: syntax error: the query ends unexpectedly after '('"
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType


def _trunc(args: list[exp.Expression]) -> exp.Expression:
    """AMC's ``TRUNC(number[, digits])`` truncates a number; Spark's ``TRUNC(date, 'unit')``
    (a quoted unit) stays a date truncation."""
    unit = args[1] if len(args) == 2 else None
    if isinstance(unit, exp.Literal) and unit.is_string:
        return Spark.Parser.FUNCTIONS["TRUNC"](args)
    return exp.Anonymous(this="TRUNC", expressions=args)


class Amc(Spark):
    """Spark SQL as AMC reads it (the functions its reference defines differently)."""

    class Parser(Spark.Parser):
        FUNCTIONS = {**Spark.Parser.FUNCTIONS, "TRUNC": _trunc}


DIALECT = "amc"  # `Amc`, registered by name


@dataclass(frozen=True)
class SqlError:
    """What is wrong with a query, and where (1-based line and column, when known)."""

    message: str
    line: int | None = None
    column: int | None = None

    @property
    def position(self) -> str:
        if self.line is None:
            return ""
        return f"line {self.line}:{self.column}" if self.column is not None else f"line {self.line}"

    def __str__(self) -> str:
        return f"{self.position}: {self.message}" if self.position else self.message


class AmcSqlError(ValueError):
    """A query that cannot run, carrying its problems (`SqlError`s, at least one, in the order
    of the query's text where known): ``error`` is the first, ``errors`` all of them."""

    def __init__(self, error: SqlError | Sequence[SqlError]) -> None:
        errors = (error,) if isinstance(error, SqlError) else tuple(error)
        if not errors:
            raise ValueError("an AmcSqlError needs at least one problem")
        super().__init__("; ".join(map(str, errors)))
        self.errors = errors
        self.error = errors[0]


def parse_amc_sql(sql: str) -> SqlError | None:
    """None when ``sql`` is one syntactically valid SELECT query, else what is wrong and where."""
    try:
        parse_query(sql)
    except AmcSqlError as exc:
        return exc.error
    return None


def parse_query(sql: str) -> exp.Query:
    """The syntax tree of ``sql`` (one SELECT query); raises `AmcSqlError`."""
    if not isinstance(sql, str):
        raise AmcSqlError(SqlError("the query is empty"))
    error = statement_error(sql)
    if error is not None:
        raise AmcSqlError(error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        raise AmcSqlError(_syntax_error(sql, exc)) from None
    except TokenError as exc:
        raise AmcSqlError(_token_error(sql, exc)) from None
    if len(statements) != 1:  # the tokens said one statement; sqlglot read none
        raise AmcSqlError(SqlError("the query is empty"))
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = query.key.upper()
        first = _tokens(sql)[0]  # where the statement starts
        line, column = _line_column(sql, first.start)
        raise AmcSqlError(SqlError(f"only SELECT queries are allowed, not {kind}", line, column))
    return query


def selected_names(sql: str) -> list[str] | None:
    """The names of the columns ``sql`` selects, when its text says them all; None when it
    cannot be read, selects `*` or selects an expression without a name."""
    try:
        names = parse_query(sql).named_selects
    except AmcSqlError:
        return None
    return None if any(name in ("", "*") for name in names) else list(names)


def statement_error(sql: str) -> SqlError | None:
    """What makes ``sql`` other than one SELECT statement, from its tokens: empty, several
    statements, a trailing ';', or another kind of statement. None says nothing of its syntax
    (text that does not tokenize is left to `parse_query` to describe)."""
    try:
        tokens = _tokens(sql)
    except TokenError:
        return None
    if not tokens:
        return SqlError("the query is empty")
    semicolon = next((t for t in tokens if t.token_type == TokenType.SEMICOLON), None)
    if semicolon is not None:
        if statement_count(sql) > 1:
            return SqlError(
                "only a single statement is allowed (no ';')", semicolon.line, semicolon.col
            )
        return SqlError(
            "the query must not end with a semicolon (;)", semicolon.line, semicolon.col
        )
    first = tokens[0]
    if first.token_type not in (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN):
        line, column = _line_column(sql, first.start)
        return SqlError(f"only SELECT queries are allowed, not {first.text.upper()}", line, column)
    return None


def statement_count(sql: str) -> int:
    """How many ';'-separated statements hold something (0: only blanks and comments); 1 for
    text that does not tokenize (its syntax error is `parse_query`'s to describe)."""
    try:
        tokens = _tokens(sql)
    except TokenError:
        return 1
    count, current = 0, False
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            count, current = count + current, False
        else:
            current = True
    return count + current


def without_trailing_semicolon(sql: str) -> str:
    """``sql`` without the ';'s that end it (and the blanks and comments after them)."""
    try:
        tokens = _tokens(sql)
    except TokenError:
        return sql
    kept = len(tokens)
    while kept and tokens[kept - 1].token_type == TokenType.SEMICOLON:
        kept -= 1
    return sql if kept == len(tokens) else sql[: tokens[kept].start].rstrip()


def custom_parameters(sql: str) -> list[str]:
    """The names in ``CUSTOM_PARAMETER('name')``, in order of first use (comments skipped);
    [] for text that does not tokenize."""
    try:
        tokens = _tokens(sql)
    except TokenError:
        return []
    names: list[str] = []
    for call, paren, name in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            call.text.upper() == "CUSTOM_PARAMETER"
            and paren.token_type == TokenType.L_PAREN
            and name.token_type == TokenType.STRING
            and name.text not in names
        ):
            names.append(name.text)
    return names


# AMC's documented limitations (its SQL reference, "Limitations and unsupported functions", and
# "AMC SQL basics"), in its words, each with the workaround the documentation gives.
NO_LIMIT = "AMC does not support LIMIT (rank rows with RANK() OVER (ORDER BY ...) instead)"
NO_ORDER_BY = (
    "AMC does not support ORDER BY in a query (only within a window: "
    "OVER (PARTITION BY ... ORDER BY ...))"
)
NO_RIGHT_JOIN = "AMC does not support RIGHT JOIN (use LEFT JOIN and swap the tables)"
NO_GETDATE = (
    "AMC does not support the GETDATE() function "
    "(use CAST('today' AS DATE) or CAST('now' AS TIMESTAMP))"
)
NO_AGGREGATION = (
    "AMC accepts only queries that generate aggregated results: aggregate at least one column "
    "(e.g. SUM(impressions) ... GROUP BY campaign_id)"
)
NO_SELECT_STAR = (
    "AMC does not support selecting all columns from a table (SELECT *) due to privacy "
    "reasons: name the columns"
)


def limitation_errors(sql: str, query: exp.Query | None = None) -> list[SqlError]:
    """What AMC's documented limitations rule out in ``sql`` (one SELECT query, parsed as
    ``query`` when given), each where it is, in the order of the text: LIMIT, ORDER BY outside a
    window, RIGHT JOIN, GETDATE(), ``*`` / ``t.*`` straight from a table (not a CTE's or a
    subquery's columns), and a query that reads a table but aggregates nowhere (no GROUP BY, no
    DISTINCT and no aggregate outside a window; at the query's start: AMC's advertiser
    instances accept only queries that generate aggregated results). Raises `AmcSqlError` when
    ``sql`` does not parse."""
    query = query if query is not None else parse_query(sql)
    tokens = _tokens(sql)
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    found: list[tuple[int, str]] = []  # (offset in the text, message)

    def keyword(node: exp.Expression | None, kind: TokenType, message: str) -> None:
        start = _start(node) if node is not None else None
        before = [t for t in tokens if t.token_type == kind and (start is None or t.start < start)]
        found.append(((before[-1].start if before else start or 0), message))

    for node in query.walk():
        if isinstance(node, exp.Limit | exp.Fetch):
            keyword(node, TokenType.LIMIT, NO_LIMIT)
        elif isinstance(node, exp.Order) and not isinstance(
            node.parent, exp.Window | exp.WithinGroup
        ):
            keyword(node, TokenType.ORDER_BY, NO_ORDER_BY)
        elif isinstance(node, exp.Join) and node.side.upper() == "RIGHT":
            keyword(node.this, TokenType.RIGHT, NO_RIGHT_JOIN)
        elif isinstance(node, exp.Anonymous) and str(node.this).upper() == "GETDATE":
            found.append((_start(node) or 0, NO_GETDATE))
        elif isinstance(node, exp.Select):
            found.extend(
                (offset, NO_SELECT_STAR) for offset in _stars_from_tables(node, ctes, tokens)
            )
    if _reads_a_table(query, ctes) and not _aggregates(query):
        found.append((tokens[0].start if tokens else 0, NO_AGGREGATION))
    errors = []
    for offset, message in sorted(found):
        line, column = _line_column(sql, offset)
        errors.append(SqlError(message, line, column))
    return errors


def _reads_a_table(query: exp.Query, ctes: set[str]) -> bool:
    """Whether ``query`` reads a table of the database (not only its CTEs or literals)."""
    return any(
        not isinstance(table.this, exp.Identifier) or table.name.lower() not in ctes
        for table in query.find_all(exp.Table)
    )


def _aggregates(query: exp.Query) -> bool:
    """Whether any SELECT of ``query`` aggregates (`is_aggregate`, or SELECT DISTINCT)."""
    return any(
        is_aggregate(select) or select.args.get("distinct") is not None
        for select in query.find_all(exp.Select)
    )


_AMC_AGGREGATES = frozenset({"COLLECT"})  # AMC's own aggregates, unknown to sqlglot


def is_aggregate(select: exp.Select) -> bool:
    """Whether a SELECT aggregates (GROUP BY, or an aggregate outside window functions and
    subqueries: sqlglot's, or AMC's own such as COLLECT)."""
    if select.args.get("group") is not None:
        return True
    for part in [*select.expressions, select.args.get("having")]:
        if part is None:
            continue
        for agg in part.find_all(exp.AggFunc, exp.Anonymous):
            if isinstance(agg, exp.Anonymous) and str(agg.this).upper() not in _AMC_AGGREGATES:
                continue
            if not _in_window_or_subquery(agg, part):
                return True
    return False


def _in_window_or_subquery(node: exp.Expression, root: exp.Expression) -> bool:
    parent = node.parent if node is not root else None  # a projection that is the aggregate
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Window | exp.Subquery | exp.Select):
            return True
        parent = parent.parent
    return isinstance(root, exp.Window)


def _stars_from_tables(select: exp.Select, ctes: set[str], tokens: list[Token]) -> list[int]:
    """Where ``select`` selects ``*`` (or ``t.*``) of a table read straight from the database."""
    relations = [select.args["from_"].this] if select.args.get("from_") else []
    relations += [join.this for join in select.args.get("joins") or []]
    tables = [r for r in relations if isinstance(r, exp.Table) and r.name.lower() not in ctes]
    if not tables:
        return []
    names = {t.alias_or_name.lower() for t in tables}
    offsets = []
    for projection in select.expressions:
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            if projection.table.lower() in names:
                offsets.append(_start(projection) or 0)
        elif isinstance(projection, exp.Star):
            first = min((_start(t) or 0) for t in tables)
            stars = [
                t
                for t, after in zip(tokens, tokens[1:], strict=False)
                if t.token_type == TokenType.STAR
                and t.start < first
                and after.token_type != TokenType.R_PAREN
            ]
            offsets.append(stars[-1].start if stars else first)
    return offsets


def _start(node: exp.Expression) -> int | None:
    """The offset in the query text where ``node`` starts (its first part with a recorded place)."""
    starts = [
        int(n.meta["start"])
        for n in node.walk()
        if isinstance(n, exp.Expression) and "start" in (n.meta or {})
    ]
    return min(starts) if starts else None


def _line_column(sql: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based offset in ``sql``."""
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _tokens(sql: str) -> list[Token]:
    """sqlglot's tokens of ``sql`` in AMC's dialect (comments are not tokens); TokenError."""
    return Tokenizer(dialect=DIALECT).tokenize(sql)


def position_of(node: exp.Expression) -> tuple[int, int] | None:
    """(line, column) where ``node`` starts in the query text (its first part sqlglot recorded
    a place for), or None."""
    found = [meta for candidate in node.walk() if (meta := _meta(candidate)) is not None]
    return min(found) if found else None


def _meta(node: Any) -> tuple[int, int] | None:
    for holder in (node, getattr(node, "this", None)):
        meta = getattr(holder, "meta", None) if isinstance(holder, exp.Expression) else None
        if meta and "line" in meta and "col" in meta:
            # sqlglot's col is where the token ends; report where it starts (a token's length
            # from its offsets, quotes included, else from its text).
            if "start" in meta and "end" in meta:
                length = int(meta["end"]) - int(meta["start"]) + 1
            else:
                length = len(holder.name) if isinstance(holder, exp.Expression) else 1
            start = int(meta["col"]) - max(length, 1) + 1
            return int(meta["line"]), max(start, 1)
    return None


def _syntax_error(sql: str, exc: ParseError) -> SqlError:
    info = exc.errors[0] if exc.errors else {}
    line, end_col = info.get("line"), info.get("col")
    token = str(info.get("highlight") or "")
    description = str(info.get("description") or "")
    if line is None or end_col is None:
        return SqlError(f"syntax error: {_plain(description)}")
    column = max(int(end_col) - len(token) + 1, 1)
    incomplete = description.startswith(("Required keyword", "Expecting ", "Expected "))
    if incomplete and _at_end(sql, int(line), int(end_col)):
        message = f"syntax error: the query ends unexpectedly after {token!r}"
        if not description.startswith("Required keyword"):
            message += f" ({_plain(description)})"
    else:
        message = f"syntax error at {token!r}: {_plain(description)}"
    return SqlError(message, int(line), column)


def _plain(description: str) -> str:
    """sqlglot's wording, minus its internals."""
    if description.startswith("Required keyword"):
        return "something is missing here"
    if "Invalid expression / Unexpected token" in description:
        return "unexpected here"
    if description.startswith("Expecting "):
        return f"expecting {description[len('Expecting ') :]!r}"
    return description[:1].lower() + description[1:]


def _at_end(sql: str, line: int, end_col: int) -> bool:
    lines = sql.splitlines() or [""]
    if line < len(lines):
        rest = "\n".join([lines[line - 1][end_col:], *lines[line:]])
    else:
        rest = lines[-1][end_col:] if lines else ""
    return not _strip_comments(rest).strip()


def _strip_comments(text: str) -> str:
    out = []
    for row in text.splitlines():
        out.append(row.split("--", 1)[0])
    return "\n".join(out)


def _token_error(sql: str, exc: TokenError) -> SqlError:
    message = str(exc)
    quote = next((q for q in ("'", '"', "`") if sql.count(q) % 2 == 1), None)
    if quote is not None:
        index = sql.rfind(quote)
        line = sql.count("\n", 0, index) + 1
        column = index - (sql.rfind("\n", 0, index) + 1) + 1
        return SqlError(
            f"syntax error: unterminated quoted text starting with {quote}", line, column
        )
    return SqlError(f"syntax error: {message}")
