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
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

DIALECT = "spark"


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
    """A query that cannot run, carrying its `SqlError`."""

    def __init__(self, error: SqlError) -> None:
        super().__init__(str(error))
        self.error = error


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
        raise AmcSqlError(SqlError(f"only SELECT queries are allowed, not {kind}", 1, 1))
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
        return SqlError(f"only SELECT queries are allowed, not {first.text.upper()}", 1, 1)
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


def _tokens(sql: str) -> list[Token]:
    """sqlglot's tokens of ``sql`` in AMC's dialect (comments are not tokens); TokenError."""
    return Tokenizer(dialect=DIALECT).tokenize(sql)


def position_of(node: exp.Expression) -> tuple[int, int] | None:
    """(line, column) where ``node`` starts in the query text, when sqlglot recorded it."""
    for candidate in (node, *node.walk()):
        meta = _meta(candidate)
        if meta is not None:
            return meta
    return None


def _meta(node: Any) -> tuple[int, int] | None:
    for holder in (node, getattr(node, "this", None)):
        meta = getattr(holder, "meta", None) if isinstance(holder, exp.Expression) else None
        if meta and "line" in meta and "col" in meta:
            # sqlglot's col is where the token ends; report where it starts.
            text = holder.name if isinstance(holder, exp.Expression) else ""
            start = int(meta["col"]) - max(len(text), 1) + 1
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
