"""Column types inferred from CSV values, and how a stored column widens to fit new values.

Kinds and their Postgres types:

    int    -> bigint                      (-2^63 .. 2^63-1; larger integers are text, not doubles)
    float  -> double precision            (decimal or exponent notation, NaN, Infinity; finite)
    date   -> date                        (YYYY-MM-DD)
    ts     -> timestamp without time zone (YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]])
    tstz   -> timestamp with time zone    (a timestamp with Z or a +HH[:MM] offset)
    bool   -> boolean                     (true / false, any case)
    text   -> text                        (anything else)

Inference is deliberately stricter than Postgres' input functions, so a value judged to fit a type
always loads. Empty values (AMC blanks filtered metrics) carry no type and load as NULL. A column
whose values mix kinds takes the least type that holds them all: int+float -> float; date+ts -> ts;
date/ts+tstz -> tstz (naive values then read as UTC); anything else -> text. Widening a stored
column follows the same lattice (bigint -> double precision -> text, date -> timestamp ->
timestamptz -> text, boolean -> text); nothing is ever narrowed, except a column that has only ever
held NULLs (created as text and marked "untyped").
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime

BIGINT = "bigint"
DOUBLE = "double precision"
DATE = "date"
TIMESTAMP = "timestamp without time zone"
TIMESTAMPTZ = "timestamp with time zone"
BOOLEAN = "boolean"
TEXT = "text"

KIND_TYPES = {
    "int": BIGINT,
    "float": DOUBLE,
    "date": DATE,
    "ts": TIMESTAMP,
    "tstz": TIMESTAMPTZ,
    "bool": BOOLEAN,
    "text": TEXT,
}
# Types whose values are measures that can be summed (a restatement compares their sums).
NUMERIC_TYPES = frozenset({BIGINT, DOUBLE, "integer", "smallint", "numeric", "real"})
# Chains in which a later type holds every value of an earlier one.
_CHAINS = ((BIGINT, DOUBLE), (DATE, TIMESTAMP, TIMESTAMPTZ))

_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_FLOAT_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE | re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TS = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-](?:0\d|1[0-5])(?::?[0-5]\d)?)?",
    re.ASCII,
)
_SPACE = " \t\n\r\v\f"  # what Postgres' input functions skip around a value
_NUMBER_START = frozenset("0123456789+-.")
_BOOL = {"true", "false"}
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# Postgres text values may be up to 1 GB; the csv module's default field limit is 128 KiB.
MAX_FIELD_BYTES = (1 << 30) - 1


def allow_large_fields() -> None:
    if csv.field_size_limit() < MAX_FIELD_BYTES:
        csv.field_size_limit(MAX_FIELD_BYTES)


def value_kind(raw: str) -> str | None:
    """The kind of one CSV value, or None for an empty value."""
    value = raw.strip(_SPACE)
    if not value:
        return None
    if value[0] in _NUMBER_START:
        if _INT.fullmatch(value):
            # Integers beyond bigint stay text: a double would silently lose their digits (ids).
            fits = len(value) <= 20 and _INT_MIN <= int(value) <= _INT_MAX
            return "int" if fits else "text"
        if _FLOAT.fullmatch(value):
            number = float(value)
            if math.isinf(number):
                return "text"  # Postgres: out of range for double precision
            if number == 0.0 and re.search(r"[1-9]", value.split("e")[0].split("E")[0]):
                return "text"  # underflow: Postgres rejects it
            return "float"
        if len(value) == 10 and _DATE.fullmatch(value):
            return "date" if _valid_date(value) else "text"
        match = _TS.fullmatch(value)
        if match:
            if not _valid_timestamp(match):
                return "text"
            return "tstz" if match.group(6) else "ts"
        if _FLOAT_SPECIAL.fullmatch(value):
            return "float"
        return "text"
    lowered = value.lower()
    if lowered in _BOOL:
        return "bool"
    if _FLOAT_SPECIAL.fullmatch(value):
        return "float"
    return "text"


def _valid_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _valid_timestamp(match: re.Match[str]) -> bool:
    day, hour, minute, second = match.group(1), match.group(2), match.group(3), match.group(4)
    try:
        datetime.fromisoformat(f"{day}T{hour}:{minute}:{second or '00'}")
    except ValueError:
        return False
    return True


def join_kinds(a: str | None, b: str | None) -> str | None:
    """The least kind holding values of both kinds (None = no value seen)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    return _join_types_by_kind(a, b)


def _join_types_by_kind(a: str, b: str) -> str:
    joined = join_types(KIND_TYPES[a], KIND_TYPES[b])
    return next(kind for kind, pg_type in KIND_TYPES.items() if pg_type == joined)


def join_types(a: str, b: str) -> str:
    """The least Postgres type holding values of both types (text when unrelated or unknown)."""
    if a == b:
        return a
    for chain in _CHAINS:
        if a in chain and b in chain:
            return chain[max(chain.index(a), chain.index(b))]
    return TEXT


def widened_type(stored: str, kind: str | None) -> str:
    """The type a stored column must take to hold values of `kind` (itself when they fit)."""
    if kind is None:
        return stored
    wanted = KIND_TYPES[kind]
    if stored in (wanted, TEXT):
        return stored
    known = {t for chain in _CHAINS for t in chain} | {BOOLEAN}
    if stored not in known:
        # A type we did not create (integer, numeric, ...): leave it unless only text fits.
        return TEXT if wanted == TEXT else stored
    return join_types(stored, wanted)


# Whole columns judged at once (values joined by line breaks, none holding one, each possibly
# empty): integers that certainly fit bigint; plain decimals (no exponent; too few digits to
# overflow or underflow a double) or such integers; timestamps without a time zone. What these do
# not match is judged value by value (`value_kind`), with the same result.
_INTS = re.compile(r"(?:[+-]?\d{1,18})?(?:\n(?:[+-]?\d{1,18})?)*", re.ASCII)
_DECIMAL = r"[+-]?(?:\d{1,300}\.\d{0,300}|\.\d{1,300}|\d{1,18})"
_DECIMALS = re.compile(rf"(?:{_DECIMAL})?(?:\n(?:{_DECIMAL})?)*", re.ASCII)
# Timestamps without a time zone whose time is valid (the day is checked apart, once per day).
_NAIVE = r"\d{4}-\d{2}-\d{2}[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_NAIVES = re.compile(rf"(?:{_NAIVE})?(?:\n(?:{_NAIVE})?)*", re.ASCII)
_BATCH_ROWS = 4096


def column_kind(values: Sequence[str], current: str | None = None) -> str | None:
    """`current` joined with the kinds of `values` (one column's): the kind `value_kind` folds
    them into, found faster. A column of numbers or of timestamps is matched whole by one regular
    expression; any other is judged one distinct value at a time (the kind of a value depends on
    it alone, and kinds join in any order)."""
    if current == "text" or not values:
        return current
    joined = "\n".join(values)
    if joined.count("\n") == len(values) - 1:  # no value holds a line break
        if _INTS.fullmatch(joined):
            return join_kinds(current, "int" if joined.strip("\n") else None)
        if _DECIMALS.fullmatch(joined):
            return join_kinds(current, "float")
        if _NAIVES.fullmatch(joined) and all(
            _valid_date(day) for day in {value[:10] for value in values if value}
        ):
            return join_kinds(current, "ts")
    for value in set(values):
        kind = value_kind(value)
        if kind is not None and kind != current:
            current = join_kinds(current, kind)
            if current == "text":
                break
    return current


class KindAccumulator:
    """Folds the kinds of many rows into one kind per column."""

    def __init__(self, width: int) -> None:
        self.kinds: list[str | None] = [None] * width

    def add_rows(self, rows: Iterable[Sequence[str]]) -> None:
        """Rows are taken a batch at a time and judged column by column (`column_kind`); a row
        shorter than the width has no values in the columns it lacks, its extra values are
        left out."""
        iterator = iter(rows)
        while batch := list(itertools.islice(iterator, _BATCH_ROWS)):
            self._add_batch(batch)

    def _add_batch(self, batch: list[Sequence[str]]) -> None:
        kinds = self.kinds
        ragged = any(len(row) < len(kinds) for row in batch)
        for index, current in enumerate(kinds):
            if current == "text":
                continue
            if ragged:
                values = [row[index] for row in batch if len(row) > index]
            else:
                values = [row[index] for row in batch]
            kinds[index] = column_kind(values, current)


def infer_from_binary(stream: io.BufferedIOBase, width: int) -> list[str | None]:
    """Kinds of every data row of a CSV file (header included in `stream`, skipped)."""
    allow_large_fields()
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    try:
        reader = csv.reader(text)
        next(reader, None)
        accumulator = KindAccumulator(width)
        accumulator.add_rows(reader)
        return accumulator.kinds
    finally:
        text.detach()
