"""The SQL engine offline: users per row (AMC's threshold) through the shapes analysts write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from amc_reports import amc_sql
from amc_reports.amc_sql import AmcSqlError
from amc_reports.local.sandbox import query

WINDOW = query.Window.parse("2026-03-01T00:00:00", "2026-03-08T00:00:00", "America/New_York")
DATA = query.DataSettings("amcquerytest", 5_000, datetime(2026, 4, 1, tzinfo=UTC))


def _run(sql: str, **kw) -> list[dict]:
    result = query.run(query.check(query.prepare(sql, WINDOW)), WINDOW, DATA, **kw)
    names = [c.name for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


# Each query computes its own distinct users per row as `users`: the coverage the engine works out
# independently (`covered`) must agree.
SHAPES = {
    "aggregate": "SELECT campaign, COUNT(DISTINCT user_id) users FROM dsp_impressions GROUP BY 1",
    "over a CTE": """
        WITH per_user AS (
            SELECT user_id, campaign, SUM(impressions) AS seen FROM dsp_impressions GROUP BY 1, 2
        )
        SELECT campaign, COUNT(*) AS users, SUM(seen) AS impressions FROM per_user GROUP BY 1""",
    "subquery and star": """
        WITH clicks AS (SELECT ad_product_type, user_id, clicks FROM sponsored_ads_traffic)
        SELECT ad_product_type, COUNT(DISTINCT user_id) AS users
        FROM (SELECT * FROM clicks WHERE clicks = 1) clicked
        GROUP BY ad_product_type""",
    "union all": """
        WITH touches AS (
            SELECT user_id, 'dsp' AS channel FROM dsp_impressions
            UNION ALL
            SELECT user_id, ad_product_type AS channel FROM sponsored_ads_traffic
        )
        SELECT channel, COUNT(DISTINCT user_id) AS users FROM touches GROUP BY channel""",
    "distinct": """
        SELECT DISTINCT campaign, COUNT(DISTINCT user_id) OVER (PARTITION BY campaign) AS users
        FROM dsp_impressions""",
    "window in a CTE": """
        WITH ranked AS (
            SELECT user_id, campaign,
                   ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY impression_dt) AS n
            FROM dsp_impressions
        )
        SELECT campaign, COUNT(DISTINCT user_id) AS users FROM ranked WHERE n = 1 GROUP BY 1""",
}


@pytest.mark.parametrize("sql", SHAPES.values(), ids=SHAPES.keys())
def test_users_per_row_follow_the_query(sql):
    rows = _run(sql, threshold=1, user_count_column="covered")
    assert rows
    for row in rows:
        assert row["covered"] == row["users"] > 0


def test_a_join_covers_the_users_of_both_sides():
    rows = _run(
        """
        WITH viewers AS (SELECT campaign_id, user_id FROM dsp_impressions),
             buyers AS (
                 SELECT campaign_id, user_id FROM amazon_attributed_events_by_traffic_time
                 WHERE purchases > 0
             )
        SELECT v.campaign_id, COUNT(DISTINCT v.user_id) AS viewers, COUNT(DISTINCT b.user_id) AS b
        FROM viewers v JOIN buyers b ON b.campaign_id = v.campaign_id
        GROUP BY v.campaign_id""",
        threshold=1,
        user_count_column="covered",
    )
    assert rows
    for row in rows:
        assert row["covered"] >= max(row["viewers"], row["b"])


# AMC's optimal-frequency playbook shape: a non-equi self-join of a small aggregate whose rows each
# cover thousands of users (every row pair would carry both lists whole).
SELF_JOIN = """
    WITH per_user AS (
        SELECT user_id, LEAST(SUM(impressions), 5) AS frequency FROM dsp_impressions GROUP BY 1
    ),
    buckets AS (SELECT frequency, COUNT(user_id) AS reach FROM per_user GROUP BY 1)
    SELECT a.frequency, SUM(b.reach) AS reach_up_to, COUNT(*) AS buckets
    FROM buckets a LEFT JOIN buckets b ON a.frequency >= b.frequency
    GROUP BY a.frequency"""


def test_a_row_that_covers_many_users_is_counted_only_up_to_the_threshold():
    cut = _run(SELF_JOIN, limits=query.Limits(memory_mb=64))
    exact = _run(SELF_JOIN, threshold=1, user_count_column="covered")
    assert cut and len(cut) == len(exact)
    assert all(row["covered"] >= query.AGGREGATION_THRESHOLD for row in exact)
    assert {r["frequency"]: r["reach_up_to"] for r in cut} == {
        r["frequency"]: r["reach_up_to"] for r in exact
    }


def test_a_cut_list_keeps_the_threshold_exact_below_it():
    sql = """
        WITH small AS (
            SELECT campaign, user_id FROM dsp_impressions WHERE user_id IN (
                SELECT user_id FROM (
                    SELECT user_id, DENSE_RANK() OVER (ORDER BY user_id) AS r FROM dsp_impressions
                ) WHERE r <= 99
            )
        )
        SELECT s.campaign, COUNT(*) AS n FROM small s JOIN small t ON s.campaign = t.campaign
        GROUP BY 1"""
    assert _run(sql) == []  # 99 users at most per row: under the threshold, however joined


def test_rows_of_single_events_never_pass_the_threshold():
    # Grouped by the instant of each impression: a user or two per row.
    sql = "SELECT campaign, impression_dt, COUNT(*) AS n FROM dsp_impressions GROUP BY 1, 2"
    assert _run(sql) == []


def test_unknown_names_are_reported_where_they_are():
    with pytest.raises(AmcSqlError) as caught:
        query.check(query.prepare("SELECT impresions\nFROM dsp_impressions GROUP BY 1", WINDOW))
    assert (caught.value.error.line, caught.value.error.column) == (1, 8)
    assert "did you mean 'impressions'" in caught.value.error.message


def _unresolved(sql: str) -> str:
    with pytest.raises(AmcSqlError) as caught:
        query.check(query.prepare(sql, WINDOW, {}))
    return caught.value.error.message


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (  # a DSP column on sponsored ads: nothing there is spelt like it
            "SELECT campaign_id, SUM(total_cost) FROM sponsored_ads_traffic GROUP BY 1",
            "Column 'total_cost' cannot be resolved",
        ),
        (
            "SELECT campaign, SUM(purchases) FROM amazon_attributed_events_by_conversion_time\n"
            "WHERE impresion_date >= '2026-02-01' GROUP BY 1",
            "Column 'impresion_date' cannot be resolved (did you mean 'impression_date'?)",
        ),
        (  # qualified: only the table it names, not the joined DSP table that has the column
            "SELECT s.total_cost FROM sponsored_ads_traffic s\n"
            "JOIN dsp_impressions d ON d.user_id = s.user_id GROUP BY 1",
            "Column 's.total_cost' cannot be resolved",
        ),
        (
            "SELECT d.campain, SUM(impressions) FROM dsp_impressions d GROUP BY 1",
            "Column 'd.campain' cannot be resolved (did you mean 'campaign'?)",
        ),
        (  # a CTE's own columns
            "WITH per AS (SELECT campaign, SUM(spend) AS spent FROM sponsored_ads_traffic "
            "GROUP BY 1)\nSELECT campaign, spend FROM per",
            "Column 'spend' cannot be resolved (did you mean 'spent'?)",
        ),
    ],
)
def test_did_you_mean_names_the_nearest_columns_of_the_same_table_or_nothing(sql, message):
    assert _unresolved(sql) == message


def test_nearest_names_the_close_ones_best_first_or_none():
    columns = ["impressions", "impression_date", "impression_dt_utc", "operating_system", "spend"]
    assert query.nearest("impresion_date", columns) == ["impression_date"]
    assert query.nearest("impressionz", columns) == ["impressions"]
    assert query.nearest("total_cost", columns) == []
    assert query.nearest("total_cost", []) == []


def test_every_problem_of_a_query_is_named_at_once_in_the_order_of_the_text():
    sql = (
        "SELECT campain, SUM(impresions) AS n, CUSTOM_PARAMETER('x') AS x\n"
        "FROM dsp_impressions AS d -- the DSP's\n"
        "GROUP BY 1\n"
        "ORDER BY n"
    )
    with pytest.raises(AmcSqlError) as caught:
        query.check(query.prepare(sql, WINDOW, {}))
    found = [(e.line, e.column, e.message) for e in caught.value.errors]
    assert found == [
        (1, 8, "Column 'campain' cannot be resolved (did you mean 'campaign'?)"),
        (1, 21, "Column 'impresions' cannot be resolved (did you mean 'impressions'?)"),
        (1, 39, "no value for CUSTOM_PARAMETER 'x'"),
        (4, 1, amc_sql.NO_ORDER_BY),
    ]


def test_unknown_tables_are_named_without_their_alias_or_comments():
    sql = "SELECT a.x\nFROM display_impressions AS a -- DSP\nJOIN other.t b ON b.x = a.x GROUP BY 1"
    with pytest.raises(AmcSqlError) as caught:
        query.prepare(sql, WINDOW)
    assert [str(e) for e in caught.value.errors] == [
        "line 2:6: Table 'display_impressions' does not exist",
        "line 3:6: Table 'other.t' does not exist",
    ]


# User ids gathered from many rows would leave AMC in a row that passes the threshold: refused.
GATHERED = {
    "collect": "SELECT campaign, COLLECT(DISTINCT user_id) AS ids FROM dsp_impressions GROUP BY 1",
    "min": "SELECT campaign, MIN(user_id) AS ids FROM dsp_impressions GROUP BY 1",
    "named row in a CTE": """
        WITH c AS (
            SELECT campaign, COLLECT(NAMED_ROW('who', user_id)) AS ids
            FROM dsp_impressions GROUP BY 1
        )
        SELECT * FROM c""",
    "exploded again": """
        WITH c AS (SELECT campaign, COLLECT(user_id) AS w FROM dsp_impressions GROUP BY 1)
        SELECT campaign, ids FROM c LATERAL VIEW explode(w) t AS ids""",
    "a window": """
        SELECT DISTINCT campaign,
               FIRST_VALUE(user_id) OVER (PARTITION BY campaign ORDER BY impression_dt) AS ids
        FROM dsp_impressions""",
    "a scalar subquery": "SELECT (SELECT MAX(user_id) FROM dsp_clicks) AS ids",
    "device ids": "SELECT campaign, COLLECT(DISTINCT device_id) AS ids FROM dsp_clicks GROUP BY 1",
}


@pytest.mark.parametrize("sql", GATHERED.values(), ids=GATHERED.keys())
def test_user_ids_gathered_from_many_users_are_refused(sql):
    with pytest.raises(AmcSqlError) as caught:
        query.prepare(sql, WINDOW)
    assert "would export user ids gathered from many users" in str(caught.value)
    assert "'ids'" in str(caught.value) or "'*'" in str(caught.value)


COUNTED = {
    "count": "SELECT campaign, COUNT(DISTINCT user_id) AS users FROM dsp_impressions GROUP BY 1",
    "cardinality of a collect": """
        WITH c AS (SELECT campaign, COLLECT(DISTINCT user_id) AS w FROM dsp_impressions GROUP BY 1)
        SELECT campaign, CARDINALITY(w) AS users FROM c""",
    "a window over users": """
        SELECT campaign, COUNT(DISTINCT user_id) AS users FROM (
            SELECT campaign, user_id,
                   ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY impression_dt) AS n
            FROM dsp_impressions) x
        WHERE n = 1 GROUP BY 1""",
}


@pytest.mark.parametrize("sql", COUNTED.values(), ids=COUNTED.keys())
def test_counted_users_run_with_the_threshold(sql):
    rows = _run(sql, threshold=1, user_count_column="covered")
    assert rows
    assert all(row["covered"] == row["users"] > 0 for row in rows)


def test_extend_time_window_reads_the_table_over_a_longer_window():
    """TABLE(EXTEND_TIME_WINDOW('t', 'P3D', 'P1D')): the table from 3 days before the window to
    1 day after it; the same table read plainly keeps the window."""
    day = query.Window.parse("2026-03-07T00:00:00", "2026-03-08T00:00:00", "America/New_York")
    sql = """
        SELECT MIN(e.impression_dt) AS first, MAX(e.impression_dt) AS last,
               MIN(p.impression_dt) AS plain_first, COUNT(DISTINCT e.user_id) AS users
        FROM TABLE(EXTEND_TIME_WINDOW('DSP_IMPRESSIONS', 'P3D', 'P1D')) e
        JOIN dsp_impressions p ON p.user_id = e.user_id"""
    result = query.run(query.check(query.prepare(sql, day)), day, DATA, threshold=1)
    [(first, last, plain_first, users)] = result.rows
    assert datetime(2026, 3, 4) <= first < datetime(2026, 3, 4, 6)
    assert datetime(2026, 3, 8, 18) <= last < datetime(2026, 3, 9)
    assert datetime(2026, 3, 7) <= plain_first < datetime(2026, 3, 7, 6)
    assert users > 0


@pytest.mark.parametrize(
    ("relation", "message"),
    [
        (
            "TABLE(EXTEND_TIME_WINDOW('dsp_impressions', '14', 'P0D'))",
            query.EXTEND_TIME_WINDOW_ARGUMENTS,
        ),
        ("TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P1D'))", query.EXTEND_TIME_WINDOW_ARGUMENTS),
        (
            "TABLE(EXTEND_TIME_WINDOW('no_such_table', 'P1D', 'P0D'))",
            "Table 'no_such_table' does not exist",
        ),
        (
            "TABLE(EXTEND_TIME_WINDOW('dsp_clicks', 'P500D', 'P0D'))",
            "EXTEND_TIME_WINDOW extends the window by at most 400 days each way",
        ),
    ],
)
def test_extend_time_window_refuses_what_amc_does_not_document(relation, message):
    with pytest.raises(AmcSqlError) as caught:
        query.prepare(f"SELECT COUNT(*) AS n\nFROM {relation} x", WINDOW)
    assert [str(e) for e in caught.value.errors] == [f"line 2:6: {message}"]


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (  # an alias of the same name does not make the table's column exist
            "SELECT campaign, SUM(total_add_to_cart) AS total_add_to_cart\n"
            "FROM dsp_impressions GROUP BY 1",
            "line 1:22: Column 'total_add_to_cart' cannot be resolved",
        ),
        (  # a table function, where its name starts
            "SELECT COUNT(*) AS n\nFROM read_csv('/etc/passwd')",
            "line 2:6: Table 'read_csv' does not exist",
        ),
    ],
)
def test_errors_name_the_column_or_table_where_it_is(sql, error):
    with pytest.raises(AmcSqlError) as caught:
        query.check(query.prepare(sql, WINDOW))
    assert str(caught.value) == error


def test_a_projection_may_use_the_aliases_before_it_and_group_by_all_of_them():
    sql = """
        SELECT campaign AS c, SUM(impressions) AS shown, shown * 2 AS doubled,
               COUNT(DISTINCT user_id) AS users
        FROM dsp_impressions GROUP BY c HAVING shown > 0"""
    assert _run(sql, threshold=1)


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (  # a string compared with a number column (not a literal: its type is DuckDB's)
            "WITH f AS (\n"
            "    SELECT user_id, impressions,\n"
            "           CASE WHEN impressions > 0 THEN '10+' ELSE '1' END AS frequency\n"
            "    FROM dsp_impressions)\n"
            "SELECT COUNT(DISTINCT user_id) AS users FROM f WHERE frequency = impressions",
            "cannot convert the string '10+' in column 'frequency' to LONG: compare strings "
            "with strings, or CAST the column explicitly",
        ),
        (
            "SELECT COUNT(DISTINCT user_id) AS users FROM dsp_impressions\n"
            "WHERE campaign_id_string IN (SELECT 1)",
            "cannot compare STRING with INTEGER values: CAST one side to the other's type",
        ),
        (
            "SELECT COUNT(DISTINCT user_id) AS users FROM dsp_impressions\n"
            "WHERE impressions = 1 + 'a'",
            "operator '+' does not take (INTEGER, STRING): CAST one side",
        ),
    ],
)
def test_type_errors_of_duckdb_read_in_amc_words(sql, error):
    with pytest.raises(AmcSqlError) as caught:
        query.run(query.check(query.prepare(sql, WINDOW)), WINDOW, DATA)
    assert caught.value.error.message == error
