"""Type inference and identifier rules (no database)."""

from __future__ import annotations

import pytest

from amc_reports.warehouse.identifiers import column_names_for_header, pg_identifier
from amc_reports.warehouse.inference import (
    BIGINT,
    DOUBLE,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
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
