"""The syntax check that live runs, validate-config and the sandbox share (pure)."""

from __future__ import annotations

import pytest

from amc_reports.amc_sql import SqlError, parse_amc_sql

# Queries in the shapes AMC analysts write (instructional-query style): all must pass, since a
# false refusal would block a valid live run.
VALID = [
    "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign",
    """WITH exposed AS (
           SELECT user_id, MIN(impression_dt) AS first_seen FROM dsp_impressions GROUP BY user_id
       )
       SELECT COUNT(DISTINCT e.user_id) AS users,
              AVG(SECONDS_BETWEEN(e.first_seen, c.conversion_event_dt)) AS seconds_to_convert
       FROM exposed e
       JOIN amazon_attributed_events_by_conversion_time c ON c.user_id = e.user_id""",
    "SELECT * FROM conversions WHERE event_dt >= BUILT_IN_PARAMETER('TIME_WINDOW_START')",
    "SELECT campaign FROM dsp_impressions WHERE campaign_id IN (CUSTOM_PARAMETER('campaigns'))",
    "SELECT DATE_TRUNC('week', event_dt) AS week, COUNT(*) FROM conversions GROUP BY 1",
    "SELECT x FROM t WHERE d > BUILT_IN_PARAMETER('TIME_WINDOW_START') - INTERVAL '14' DAY",
    "SELECT ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST(campaign)), ' > ') AS path FROM t GROUP BY user_id",
    "SELECT ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY event_dt) AS n FROM t",
    "SELECT CASE WHEN clicks > 0 THEN 'click' ELSE 'view' END AS kind FROM t  -- trailing note",
    "/* header */ SELECT a FROM t UNION ALL SELECT b FROM u",
    "SELECT ';' AS semicolon_in_a_string FROM t",
]


@pytest.mark.parametrize("sql", VALID)
def test_valid_amc_queries_parse(sql):
    assert parse_amc_sql(sql) is None


@pytest.mark.parametrize(
    ("sql", "line", "column", "words"),
    [
        # the example: reported where the query breaks off
        (
            "SELECT campaign_idd, SUM(impresions) FROM no_such_table WHERE nonsense(((",
            1,
            73,
            "ends unexpectedly after '('",
        ),
        ("SELECT a FROM t\nWHERE\n  x = 1 AND\n", 3, 9, "ends unexpectedly after 'AND'"),
        ("SELECT a b c FROM t", 1, 12, "syntax error at 'c'"),
        ("SELECT a FROM t)", 1, 16, "syntax error at ')'"),
        ("SELECT 'abc FROM t", 1, 8, "unterminated quoted text"),
        ("SELECT a FROM t; SELECT b FROM t", 1, 16, "only one statement"),
        ("SELECT a FROM t;", 1, 16, "must not end with ';'"),
        ("INSERT INTO t VALUES (1)", 1, 1, "only SELECT queries"),
    ],
)
def test_syntax_errors_name_the_problem_and_where(sql, line, column, words):
    error = parse_amc_sql(sql)
    assert isinstance(error, SqlError)
    assert (error.line, error.column) == (line, column), error
    assert words in error.message
    assert str(error).startswith(f"line {line}:{column}: ")


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment\n", "/* nothing */"])
def test_an_empty_query_is_refused(sql):
    error = parse_amc_sql(sql)
    assert error is not None and "empty" in error.message
