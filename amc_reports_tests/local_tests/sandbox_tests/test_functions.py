"""AMC's functions as its SQL reference documents them, run by the sandbox's engine (offline).

Each row: an AMC expression and the value AMC documents for it. The query has no table, so no
user: it runs with the threshold at 0 (the threshold itself is `test_query`'s and the jail's).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from amc_reports.amc_sql import AmcSqlError
from amc_reports.local.sandbox import functions, query

WINDOW = query.Window.parse("2026-03-01T00:00:00", "2026-03-08T00:00:00", "UTC")
AS_OF = datetime(2026, 4, 1, 13, 30, tzinfo=UTC)  # the run's "now"
DATA = query.DataSettings("amcfunctiontest", 2_000, AS_OF)


def _value(expression: str) -> tuple[object, str]:
    prepared = query.check(query.prepare(f"SELECT {expression} AS v", WINDOW))
    result = query.run(prepared, WINDOW, DATA, threshold=0)
    assert len(result.rows) == 1
    return result.rows[0][0], result.columns[0].type


VALUES = {
    # day of the week: 1-7, Sunday 1 (2026-03-01 is a Sunday, 2026-03-07 a Saturday)
    "DAYOFWEEK": ("DAYOFWEEK(DATE '2026-03-01')", 1),
    "EXTRACT(DOW)": ("EXTRACT(DOW FROM TIMESTAMP '2026-03-07 23:00:00')", 7),
    # the current date and time: the run's "now", in UTC
    "CAST('today' AS DATE)": ("CAST('today' AS DATE)", date(2026, 4, 1)),
    "CAST('now' AS TIMESTAMP)": ("CAST('now' AS TIMESTAMP)", datetime(2026, 4, 1, 13, 30)),
    "CAST('yesterday' AS DATE)": ("CAST('yesterday' AS DATE)", date(2026, 3, 31)),
    "CURRENT_DATE": ("CURRENT_DATE", date(2026, 4, 1)),
    "CURRENT_TIMESTAMP": ("CURRENT_TIMESTAMP", datetime(2026, 4, 1, 13, 30)),
    "NAMED_ROW": ("NAMED_ROW('label1', 1, 'label2', 'x')", {"label1": 1, "label2": "x"}),
    "CONTAINED_IN": ("CONTAINED_IN(2, 1, 2, 3)", True),
    "CONTAINED_IN none": ("CONTAINED_IN(5, 1, 2, 3)", False),
    "GREATEST with a NULL": ("GREATEST(1, NULL, 3)", None),
    "LEAST": ("LEAST(4, 2, 3)", 2),
    "TRUNC": ("TRUNC(1.55)", Decimal("1")),
    "TRUNC digits": ("TRUNC(1.55, 1)", Decimal("1.5")),
    "REGEXP_SUBSTR": ("REGEXP_SUBSTR('abc123def', '[0-9]+')", "123"),
    "REGEXP_SUBSTR no match": ("REGEXP_SUBSTR('abc', '[0-9]+')", None),
    "STR_TO_MAP": ("STR_TO_MAP('a:1,b:2', ',', ':')", {"a": "1", "b": "2"}),
    "CONVERT_TIME_ZONE_FROM_UTC": (
        "CONVERT_TIME_ZONE_FROM_UTC(TIMESTAMP '2026-03-01 12:00:00', 'America/New_York')",
        datetime(2026, 3, 1, 7, 0),
    ),
    "EPOCH_TO_UTC_TIMESTAMP seconds": (
        "EPOCH_TO_UTC_TIMESTAMP(1700000000)",
        datetime(2023, 11, 14, 22, 13, 20),
    ),
    "EPOCH_TO_UTC_TIMESTAMP milliseconds": (
        "EPOCH_TO_UTC_TIMESTAMP(1700000000000)",
        datetime(2023, 11, 14, 22, 13, 20),
    ),
    "ARRAY_COMPLEMENT": ("ARRAY_COMPLEMENT(ARRAY(1, 2, 3), ARRAY(2))", [1, 3]),
    "ARRAY_UNION": ("ARRAY_SORT(ARRAY_UNION(ARRAY(1, 2), ARRAY(2, 3)))", [1, 2, 3]),
    "TO/FROM_VARBINARY hex": ("FROM_VARBINARY(TO_VARBINARY('AB', 'utf-8'), 'hex')", "4142"),
    "TO/FROM_VARBINARY base64": ("FROM_VARBINARY(TO_VARBINARY('QUI=', 'base64'), 'utf-8')", "AB"),
    "JSON_SERIALIZE": ("""JSON_SERIALIZE(JSON_EXTRACT('{"a": {"b": 1}}', '$.a'))""", '{"b":1}'),
    "SECONDS_BETWEEN": (
        "SECONDS_BETWEEN(TIMESTAMP '2026-03-01 00:00:00', TIMESTAMP '2026-03-01 00:01:00')",
        60,
    ),
    "E": ("ROUND(E(), 5)", 2.71828),
    "COLLECT": ("(SELECT CARDINALITY(COLLECT(x)) FROM (SELECT 1 AS x UNION ALL SELECT 1))", 2),
    "COLLECT DISTINCT": (
        "(SELECT CARDINALITY(COLLECT(DISTINCT x)) FROM (SELECT 1 AS x UNION ALL SELECT 1))",
        1,
    ),
}


@pytest.mark.parametrize(("expression", "expected"), VALUES.values(), ids=VALUES.keys())
def test_amc_functions_give_what_amc_documents(expression, expected):
    assert _value(expression)[0] == expected


TYPES = {
    "UUID": ("UUID()", "STRING"),
    "HASH64": ("HASH64('a')", "LONG"),
    "DAYOFWEEK": ("DAYOFWEEK(DATE '2026-03-01')", "LONG"),
    "COLLECT": ("(SELECT COLLECT(x) FROM (SELECT 'a' AS x))", "ARRAY<STRING>"),
    "NAMED_ROW": ("NAMED_ROW('a', 1)", "STRUCT"),
    "TO_VARBINARY": ("TO_VARBINARY('AB', 'utf-8')", "BINARY"),
}


@pytest.mark.parametrize(("expression", "expected"), TYPES.values(), ids=TYPES.keys())
def test_amc_functions_have_amc_result_types(expression, expected):
    assert _value(expression)[1] == expected


def test_named_row_and_collect_refuse_what_they_do_not_take():
    with pytest.raises(AmcSqlError) as caught:
        query.prepare("SELECT NAMED_ROW(1, 2, 'b') AS r,\n  COLLECT(a, b) AS c FROM t", WINDOW)
    assert [(e.line, e.column, e.message) for e in caught.value.errors][:2] == [
        (1, 8, functions.NAMED_ROW_ARGUMENTS),
        (2, 3, "COLLECT takes one value: COLLECT([ALL | DISTINCT] value)"),
    ]


def test_collect_is_an_aggregate_the_threshold_follows():
    """COLLECT's rows go through AMC's threshold like any aggregate's."""
    sql = """
        SELECT campaign, CARDINALITY(COLLECT(DISTINCT device_type)) AS devices,
               COUNT(DISTINCT user_id) AS users
        FROM dsp_impressions GROUP BY campaign"""
    result = query.run(
        query.check(query.prepare(sql, WINDOW)),
        WINDOW,
        DATA,
        threshold=1,
        user_count_column="covered",
    )
    assert result.rows
    for row in result.rows:
        assert row[-1] == row[2] > 0


# AMC (Spark) compares a string with a number as numbers; a string that is no number is NULL.
# Per value of `frequency` ('1', '2.0', '10+'), what the expression gives.
STRING_NUMBER = {
    "a CASE of strings = a number": (
        "CASE WHEN frequency = 1 THEN 'one' ELSE 'more' END",
        ["one", "more", "more"],
    ),
    "IN a list of numbers": ("frequency IN (1, 2)", [True, True, None]),
    "ordering": ("frequency >= 2", [False, True, None]),
}


@pytest.mark.parametrize(
    ("expression", "expected"), STRING_NUMBER.values(), ids=STRING_NUMBER.keys()
)
def test_a_string_compared_with_a_number_is_compared_as_a_number(expression, expected):
    sql = f"""
        WITH f AS (
            SELECT CASE WHEN n = 1 THEN '1' WHEN n = 2 THEN '2.0' ELSE '10+' END AS frequency
            FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) x
        )
        SELECT frequency, {expression} AS v FROM F"""
    result = query.run(query.check(query.prepare(sql, WINDOW)), WINDOW, DATA, threshold=0)
    by_frequency = dict(result.rows)
    assert [by_frequency[f] for f in ("1", "2.0", "10+")] == expected
