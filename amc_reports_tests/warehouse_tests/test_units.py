"""Type inference and identifier rules (no database)."""

from __future__ import annotations

import random

import pytest

from amc_reports.warehouse.identifiers import column_names_for_header, pg_identifier
from amc_reports.warehouse.inference import (
    BIGINT,
    DOUBLE,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
    KindAccumulator,
    column_kind,
    join_kinds,
    value_kind,
    widened_type,
)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("", None),
        ("  ", None),
        ("42", "int"),
        ("-7", "int"),
        ("9223372036854775807", "int"),
        ("9223372036854775808", "text"),  # beyond bigint: kept exact as text
        ("1.25", "float"),
        ("1e-3", "float"),
        ("NaN", "float"),
        ("1e999", "text"),
        ("2024-01-07", "date"),
        ("2024-02-30", "text"),
        ("2024-01-07 10:11:12", "ts"),
        ("2024-01-07T10:11:12.123456", "ts"),
        ("2024-01-07T10:11:12Z", "tstz"),
        ("2024-01-07 10:11:12-05:00", "tstz"),
        ("True", "bool"),
        ("false", "bool"),
        ("yes", "text"),
        ("١٢", "text"),  # non-ASCII digits: Postgres would reject them as numbers
        ("1_000", "text"),
        ("abc", "text"),
    ],
)
def test_value_kind(value: str, kind: str | None):
    assert value_kind(value) == kind


# Values of every kind and their edges: what `column_kind` matches whole, and what it must leave
# to `value_kind` (spaces, exponents, too many digits, line breaks, invalid dates).
_VALUES = [
    "",
    " ",
    "0",
    "42",
    "-7",
    "+5",
    "007",
    "123456789012345678",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "12345678901234567890",
    " 42",
    "42 ",
    "1.25",
    "-0.5",
    "1.",
    ".5",
    ".",
    "-",
    "+",
    "1e-3",
    "1E5",
    "1e999",
    "1e-400",
    "0." + "0" * 330 + "1",
    "1" * 301 + ".5",
    "NaN",
    "-inf",
    "Infinity",
    "2024-01-07",
    "2024-02-30",
    "2024-1-7",
    "2024-01-07 10:11:12",
    "2024-01-07T10:11",
    "2024-01-07T10:11:12.123456",
    "2024-01-07 25:00",
    "2024-01-07T10:11:12Z",
    "2024-01-07 10:11:12-05:00",
    "True",
    "false",
    "FALSE",
    "yes",
    "١٢",
    "1_000",
    "abc",
    "12\n34",
    "1\n",
    "\n",
    "a,b",
    '"q"',
]


@pytest.mark.parametrize("seed", range(40))
def test_a_column_is_judged_whole_as_value_by_value(seed: int):
    """`column_kind` (a column of numbers matched at once, others by distinct value) gives the
    kind that folding `value_kind` over the values in order gives, for mixes of every kind."""
    rng = random.Random(seed)
    pools = [
        _VALUES,
        ["", "1", "-22", "333", "4.5", " 6"],
        ["", "2024-01-07", "2024-01-08 10:00", "2024-01-08T23:59:59.5", "2024-02-30 10:00"],
        ["", "2024-01-07 10:00", "2024-01-08T00:00:01", "2024-01-08 24:00", "2024-01-08 10:60"],
    ]
    pool = pools[seed % len(pools)]
    for _ in range(50):
        values = [rng.choice(pool) for _ in range(rng.randrange(1, 30))]
        start = rng.choice([None, None, "int", "float", "date", "ts"])
        expected = start
        for value in values:
            expected = join_kinds(expected, value_kind(value))
        assert column_kind(values, start) == expected, (values, start)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", "", "-2"], "int"),
        (["1", "9223372036854775808"], "text"),  # beyond bigint
        (["1", "1.5"], "float"),
        (["1.5", "1e999"], "text"),  # overflows a double
        (["1", "12\n34"], "text"),  # a line break inside a value
        (["", ""], None),
        (["2024-01-07 10:00", "2024-01-08T23:59:59.123456"], "ts"),
        (["2024-01-07 10:00", "2024-02-30 10:00"], "text"),  # no such day
        (["2024-01-07 10:00", "2024-01-07 24:00"], "text"),  # no such hour
        (["2024-01-07 10:00", "2024-01-07"], "ts"),
        (["2024-01-07 10:00", "2024-01-07T10:00Z"], "tstz"),
    ],
)
def test_a_column_of_numbers_or_timestamps_is_judged_whole(values: list[str], kind: str | None):
    assert column_kind(values) == kind


def test_rows_are_judged_in_batches_whatever_their_length():
    rows = [["1", "a", "2024-01-07"]] * 5000 + [["2.5"], ["3", "b", "2024-01-07 10:00", "extra"]]
    accumulator = KindAccumulator(3)
    accumulator.add_rows(iter(rows))
    assert accumulator.kinds == ["float", "text", "ts"]
    empty = KindAccumulator(2)
    empty.add_rows([["", ""], [""]])
    assert empty.kinds == [None, None]


def test_kinds_join_along_the_lattice():
    assert join_kinds("int", "float") == "float"
    assert join_kinds("date", "ts") == "ts"
    assert join_kinds("ts", "tstz") == "tstz"
    assert join_kinds("int", "date") == "text"
    assert join_kinds("bool", "int") == "text"
    assert join_kinds(None, "int") == "int"
    assert widened_type(BIGINT, "float") == DOUBLE
    assert widened_type(DOUBLE, "int") == DOUBLE
    assert widened_type(DOUBLE, "text") == TEXT
    assert widened_type(TIMESTAMP, "tstz") == TIMESTAMPTZ
    assert widened_type(TEXT, "int") == TEXT
    assert widened_type("numeric", "float") == "numeric"


def test_long_identifiers_are_truncated_deterministically():
    long_a, long_b = "x" * 100, "x" * 100 + "y"
    assert len(pg_identifier(long_a).encode()) == 63
    assert pg_identifier(long_a) == pg_identifier(long_a)
    assert pg_identifier(long_a) != pg_identifier(long_b)
    multibyte = "é" * 40  # 80 bytes
    truncated = pg_identifier(multibyte)
    assert len(truncated.encode()) <= 63
    truncated.encode().decode("utf-8")  # not cut inside a character
    assert pg_identifier("short") == "short"


def test_header_names():
    assert column_names_for_header(["a", "a", " b ", "", "execution_id", "a_2"]) == [
        "a",
        "a_2",
        "b",
        "column_4",
        "csv_execution_id",
        "a_2_2",
    ]
