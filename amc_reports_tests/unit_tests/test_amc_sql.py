"""The syntax check that live runs, validate-config and the sandbox share (pure)."""

from __future__ import annotations

import pytest

from amc_reports.amc_sql import (
    NO_AGGREGATION,
    NO_GETDATE,
    NO_LIMIT,
    NO_ORDER_BY,
    NO_RIGHT_JOIN,
    NO_SELECT_STAR,
    SqlError,
    custom_parameters,
    limitation_errors,
    parse_amc_sql,
    statement_count,
    statement_error,
    without_trailing_semicolon,
)

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
        ("SELECT a FROM t; SELECT b FROM t", 1, 16, "only a single statement"),
        ("SELECT a FROM t;", 1, 16, "must not end with a semicolon"),
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


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT a FROM t WHERE (((", None),  # one SELECT: its syntax error is for the run
        ("SELECT 'a;b' AS x FROM t -- ; in a comment", None),
        ("WITH w AS (SELECT 1 AS a) SELECT a FROM w", None),
        ("SELECT a FROM t WHERE ((( ;", "must not end with a semicolon"),
        ("SELECT a FROM t; DROP TABLE t", "only a single statement"),
        ("DROP TABLE t", "only SELECT queries are allowed, not DROP"),
        ("-- nothing but a note", "the query is empty"),
    ],
)
def test_statement_error_reads_the_tokens_even_of_a_query_that_does_not_parse(sql, words):
    error = statement_error(sql)
    assert (error is None) if words is None else (error is not None and words in error.message)


def test_custom_parameters_are_named_once_in_order_outside_comments():
    sql = (
        "SELECT CUSTOM_PARAMETER('brand') AS b FROM t -- CUSTOM_PARAMETER('no')\n"
        "WHERE ARRAY_CONTAINS(custom_parameter('asins'), tracked_asin)\n"
        "  AND x > CUSTOM_PARAMETER('since') AND y = CUSTOM_PARAMETER('brand') AND ((("
    )
    assert custom_parameters(sql) == ["brand", "asins", "since"]
    assert custom_parameters("SELECT 'unterminated FROM t") == []


@pytest.mark.parametrize(
    ("sql", "count", "kept"),
    [
        ("SELECT ';' AS x FROM t -- a; note\n;  ", 1, "SELECT ';' AS x FROM t -- a; note"),
        ("SELECT 1 ; -- x\n ;", 1, "SELECT 1"),
        ("SELECT 1; DROP TABLE t;", 2, "SELECT 1; DROP TABLE t"),
        ("/* only */ -- comments", 0, "/* only */ -- comments"),
    ],
)
def test_statements_and_the_trailing_semicolon_are_read_from_tokens(sql, count, kept):
    assert statement_count(sql) == count
    assert without_trailing_semicolon(sql) == kept


# AMC's documented limitations: each refused where it is (line, column), in the order of the text.
LIMITED = {
    "limit": ("SELECT campaign FROM dsp_impressions GROUP BY 1\nLIMIT 10", [(2, 1, NO_LIMIT)]),
    "order by at the top": (
        "SELECT campaign, COUNT(*) AS n FROM dsp_impressions GROUP BY 1 ORDER BY n DESC",
        [(1, 64, NO_ORDER_BY)],
    ),
    "order by in a CTE": (
        "WITH c AS (SELECT campaign FROM dsp_impressions ORDER BY campaign)\n"
        "SELECT campaign, COUNT(*) AS n FROM c GROUP BY 1",
        [(1, 49, NO_ORDER_BY)],
    ),
    "right join": (
        "SELECT a.campaign FROM dsp_impressions a\n"
        "  RIGHT OUTER JOIN dsp_clicks b ON 1 = 1 GROUP BY 1",
        [(2, 3, NO_RIGHT_JOIN)],
    ),
    "getdate": ("SELECT GETDATE() AS today FROM dsp_impressions GROUP BY 1", [(1, 8, NO_GETDATE)]),
    "star from a table": (
        "SELECT * FROM dsp_impressions",
        [(1, 1, NO_AGGREGATION), (1, 8, NO_SELECT_STAR)],
    ),
    "no aggregation": (
        "-- row by row\n  SELECT campaign, impressions FROM dsp_impressions",
        [(2, 3, NO_AGGREGATION)],
    ),
    "star from a table in a subquery": (
        "SELECT COUNT(*) AS n FROM (SELECT * FROM dsp_clicks) x",
        [(1, 35, NO_SELECT_STAR)],
    ),
    "qualified star of the table": (
        "WITH c AS (SELECT campaign FROM dsp_clicks)\n"
        "SELECT c.*, d.* FROM c JOIN dsp_impressions d ON d.campaign = c.campaign GROUP BY ALL",
        [(2, 13, NO_SELECT_STAR)],
    ),
    "all of them at once": (
        "SELECT * FROM dsp_impressions a RIGHT JOIN dsp_clicks b ON 1 = 1 ORDER BY 1 LIMIT 5",
        [
            (1, 1, NO_AGGREGATION),
            (1, 8, NO_SELECT_STAR),
            (1, 33, NO_RIGHT_JOIN),
            (1, 66, NO_ORDER_BY),
            (1, 77, NO_LIMIT),
        ],
    ),
}


@pytest.mark.parametrize(("sql", "expected"), LIMITED.values(), ids=LIMITED.keys())
def test_amc_limitations_are_refused_where_they_are(sql, expected):
    found = [(e.line, e.column, e.message) for e in limitation_errors(sql)]
    assert found == expected


ALLOWED = {
    "order by in a window": (
        "SELECT a, MAX(RANK() OVER (PARTITION BY a ORDER BY b)) AS r FROM dsp_clicks GROUP BY a"
    ),
    "order within group": "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY a) FROM dsp_clicks",
    "star from a CTE": "WITH c AS (SELECT campaign FROM dsp_clicks GROUP BY 1) SELECT * FROM c",
    "star from a subquery": "SELECT x.* FROM (SELECT COUNT(*) AS n FROM dsp_clicks) x",
    "aggregated in a CTE only": (
        "WITH c AS (SELECT campaign, SUM(clicks) AS n FROM dsp_clicks GROUP BY 1) SELECT n FROM c"
    ),
    "a table-free query": "SELECT 1 AS one",
    "AMC's own aggregate": "SELECT COLLECT(campaign) AS c FROM dsp_clicks",
    "count star": "SELECT COUNT(*) AS n FROM dsp_clicks",
    "left and full joins": (
        "SELECT a.x FROM t a LEFT JOIN u b ON 1 = 1 FULL JOIN v c ON 1 = 1 GROUP BY 1"
    ),
    "the words in strings": (
        "SELECT 'ORDER BY x LIMIT 1' AS s, campaign AS limit_ FROM dsp_clicks GROUP BY ALL"
    ),
}


@pytest.mark.parametrize("sql", ALLOWED.values(), ids=ALLOWED.keys())
def test_what_amc_allows_is_not_a_limitation(sql):
    assert limitation_errors(sql) == []


def test_a_statement_that_is_no_select_is_named_where_it_starts():
    assert parse_amc_sql("-- a note\n-- another\n  CREATE TABLE x AS SELECT 1") == SqlError(
        "only SELECT queries are allowed, not CREATE", 3, 3
    )
