"""AMC's per-column aggregation thresholds: how many users a query's rows must cover.

AMC's "Data aggregation thresholds" page: NONE 1 user, LOW 2, MEDIUM and HIGH 100; VERY_HIGH and
INTERNAL columns only dropped or counted. The levels come from `amc_schema.yaml`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlglot

from amc_reports.amc_sql import AmcSqlError
from amc_reports.local.sandbox import coverage, query, tables

# A made-up pair of tables: the decision reads levels, whichever table they come from.
COLUMNS = {
    "events": {
        "user_id": "VERY_HIGH",
        "marketplace_id": "INTERNAL",
        "impressions": "NONE",
        "campaign": "LOW",
        "device_type": "LOW",
        "bid_price": "MEDIUM",
        "postal_code": "HIGH",
        "undocumented": "-",
        "odd": "SOMETHING_NEW",
    },
    "lookup": {"segment_name": "LOW", "campaign": "MEDIUM"},
}

DECISIONS = [
    ("only metrics", "SELECT SUM(impressions) AS i FROM events", 1),
    ("a LOW dimension", "SELECT device_type, SUM(impressions) FROM events GROUP BY 1", 2),
    ("a name of two tables: the stricter", "SELECT campaign, COUNT(*) FROM events GROUP BY 1", 100),
    ("a MEDIUM column", "SELECT bid_price, SUM(impressions) FROM events GROUP BY 1", 100),
    ("a HIGH column", "SELECT postal_code, SUM(impressions) FROM events GROUP BY 1", 100),
    ("users counted", "SELECT segment_name, COUNT(DISTINCT user_id) FROM events GROUP BY 1", 2),
    ("users counted, plain COUNT", "SELECT segment_name, COUNT(user_id) FROM events GROUP BY 1", 2),
    (
        "approx count",
        "SELECT segment_name, APPROX_COUNT_DISTINCT(user_id) FROM events GROUP BY 1",
        2,
    ),
    (
        "INTERNAL counted",
        "SELECT segment_name, COUNT(DISTINCT marketplace_id) FROM events GROUP BY 1",
        2,
    ),
    (
        "users read in a CTE",
        "WITH u AS (SELECT user_id, segment_name FROM events) "
        "SELECT segment_name, COUNT(DISTINCT user_id) FROM u GROUP BY 1",
        100,
    ),
    (
        "users joined",
        "SELECT a.segment_name, COUNT(*) FROM events a JOIN lookup b ON a.user_id = b.user_id "
        "GROUP BY 1",
        100,
    ),
    ("users output", "SELECT user_id, SUM(impressions) FROM events GROUP BY 1", 100),
    ("INTERNAL filtered on", "SELECT SUM(impressions) FROM events WHERE marketplace_id = 1", 100),
    ("a column only filtered on", "SELECT SUM(impressions) FROM events WHERE bid_price > 1", 100),
    ("not documented", "SELECT undocumented, SUM(impressions) FROM events GROUP BY 1", 100),
    ("an unknown level", "SELECT odd, SUM(impressions) FROM events GROUP BY 1", 100),
    ("no column at all", "SELECT COUNT(*) AS n FROM events", 100),
    ("a star", "SELECT COUNT(*) FROM (SELECT * FROM events) x", 100),
    ("names of no table", "SELECT 1 AS one, SUM(impressions) AS other FROM events", 1),
]


@pytest.mark.parametrize(
    ("sql", "users"), [(s, u) for _, s, u in DECISIONS], ids=[d[0] for d in DECISIONS]
)
def test_the_strictest_column_read_decides(sql, users):
    tree = sqlglot.parse_one(sql, read="spark")
    assert coverage.required_users(tree, COLUMNS, reads_users=True) == users


def test_a_query_of_no_users_needs_no_minimum():
    tree = sqlglot.parse_one("SELECT segment_name FROM lookup", read="spark")
    assert coverage.required_users(tree, COLUMNS, reads_users=False) == 0


def test_levels_come_from_the_schema_file():
    assert tables.COLUMN_THRESHOLDS["dsp_impressions"]["user_id"] == "VERY_HIGH"
    assert tables.COLUMN_THRESHOLDS["dsp_impressions"]["postal_code"] == "HIGH"
    assert tables.COLUMN_THRESHOLDS["segment_metadata"]["segment_name"] == "LOW"
    assert set(coverage.MIN_USERS) | coverage.COUNTED_ONLY | {"-"} == {
        level for columns in tables.COLUMN_THRESHOLDS.values() for level in columns.values()
    }


# -- through the engine ------------------------------------------------------------------------

WINDOW = query.Window.parse("2026-03-01T00:00:00", "2026-03-08T00:00:00", "UTC")
DATA = query.DataSettings("amcthresholdtest", 5_000, datetime(2026, 4, 1, tzinfo=UTC))


def _run(sql: str) -> tuple[query.Prepared, query.QueryResult]:
    prepared = query.check(query.prepare(sql, WINDOW))
    return prepared, query.run(prepared, WINDOW, DATA, user_count_column="users")


def test_segment_metadata_alone_returns_its_rows():
    prepared, result = _run(
        "SELECT segment_id, segment_name, category_path FROM segment_metadata GROUP BY 1, 2, 3"
    )
    assert prepared.threshold == 0
    assert len(result.rows) == len(tables.SCHEMA.segments) and result.filtered_rows == 0


def test_a_low_query_keeps_rows_of_two_users_and_drops_rows_of_one():
    sql = """
        SELECT campaign, event_hour, COUNT(DISTINCT user_id) AS reach, SUM(impressions) AS imps
        FROM sponsored_ads_traffic GROUP BY 1, 2"""
    prepared, result = _run(sql)
    assert prepared.threshold == 2
    users = [row[-1] for row in result.rows]
    assert min(users) >= 2 and min(users) < query.AGGREGATION_THRESHOLD  # rows AMC shows
    assert all(row[2] == row[-1] for row in result.rows)  # reach: the users the engine counted


def test_a_query_reading_user_ids_still_needs_a_hundred_users():
    sql = """
        WITH per_user AS (
            SELECT user_id, campaign, event_hour FROM sponsored_ads_traffic GROUP BY 1, 2, 3
        )
        SELECT campaign, event_hour, COUNT(DISTINCT user_id) AS reach FROM per_user GROUP BY 1, 2"""
    prepared, result = _run(sql)
    assert prepared.threshold == query.AGGREGATION_THRESHOLD == 100
    assert result.rows and result.filtered_rows
    assert all(row[-1] >= 100 for row in result.rows)
    assert result.threshold == 100


def test_a_high_column_needs_a_hundred_users():
    sql = """
        SELECT postal_code, campaign, COUNT(DISTINCT user_id) AS reach
        FROM dsp_impressions GROUP BY 1, 2"""
    prepared, result = _run(sql)
    assert prepared.threshold == 100
    assert result.rows and result.filtered_rows
    assert all(row[-1] >= 100 for row in result.rows)


# -- what a row under the threshold shows (filteredMetricsDiscriminatorColumn) ------------------

OUTPUTS = [
    (
        "a metric and a dimension",
        "SELECT device_type, SUM(impressions) FROM events GROUP BY 1",
        [2, 1],
    ),
    (
        "a HIGH dimension",
        "SELECT postal_code, COUNT(DISTINCT user_id) FROM events GROUP BY 1",
        [100, 0],
    ),
    ("user ids", "SELECT user_id, SUM(impressions) AS i FROM events GROUP BY 1", [100, 1]),
    (
        "through a CTE",
        "WITH u AS (SELECT user_id AS who, bid_price AS bid, device_type FROM events) "
        "SELECT who, bid, device_type, COUNT(DISTINCT who) FROM u GROUP BY 1, 2, 3",
        [100, 100, 2, 0],
    ),
    ("a literal", "SELECT 'x' AS label, SUM(impressions) FROM events", [0, 1]),
    ("an unknown name", "SELECT nowhere, SUM(impressions) FROM events GROUP BY 1", [100, 1]),
    ("a star", "SELECT * FROM (SELECT device_type FROM events) x", [100]),
    (
        "a union: the stricter per column",
        "SELECT device_type AS d FROM events UNION ALL SELECT postal_code AS d FROM events",
        [100],
    ),
]


@pytest.mark.parametrize(
    ("sql", "needs"), [(s, n) for _, s, n in OUTPUTS], ids=[o[0] for o in OUTPUTS]
)
def test_each_output_column_shows_from_its_own_level(sql, needs):
    tree = sqlglot.parse_one(sql, read="spark")
    assert coverage.output_users(tree, COLUMNS) == needs


def test_a_marked_row_blanks_user_ids_and_re_aggregates():
    """AMC never outputs user ids; the rows it blanks alike become one, metrics summed."""
    sql = "SELECT user_id, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY 1"
    prepared = query.check(query.prepare(sql, WINDOW))
    result = query.run(prepared, WINDOW, DATA, discriminator_column="filtered")
    assert [row[0] for row in result.rows] == [None] and result.rows[0][2] is True
    total = query.run(
        query.check(query.prepare("SELECT SUM(impressions) FROM dsp_impressions", WINDOW)),
        WINDOW,
        DATA,
    )
    assert result.rows[0][1] == total.rows[0][0] and result.filtered_rows > 1


# -- no literal filters on HIGH and VERY_HIGH columns ---------------------------------------------

FILTERS = [
    ("a HIGH column in a list", "SELECT 1 FROM events WHERE postal_code IN ('10001', '10011')", 1),
    ("user ids equal to a literal", "SELECT 1 FROM events WHERE user_id = 'abc'", 1),
    ("a function of one", "SELECT 1 FROM events WHERE SUBSTR(postal_code, 1, 3) = '100'", 1),
    (
        "derived in a CTE",
        "WITH u AS (SELECT postal_code AS zip FROM events) SELECT 1 FROM u WHERE zip LIKE '1%'",
        1,
    ),
    ("a MEDIUM column", "SELECT 1 FROM events WHERE bid_price > 10", 0),
    ("a count of users", "SELECT 1 FROM events HAVING COUNT(DISTINCT user_id) > 100", 0),
    ("a join of users", "SELECT 1 FROM events a JOIN events b ON a.user_id = b.user_id", 0),
    ("a NULL test", "SELECT 1 FROM events WHERE user_id IS NOT NULL", 0),
    (
        "a rank over users",
        "WITH r AS (SELECT ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY bid_price) AS n "
        "FROM events) SELECT 1 FROM r WHERE n = 1",
        0,
    ),
]


@pytest.mark.parametrize(
    ("sql", "refused"), [(s, n) for _, s, n in FILTERS], ids=[f[0] for f in FILTERS]
)
def test_high_and_very_high_columns_take_no_literal_filter(sql, refused):
    tree = sqlglot.parse_one(sql, read="spark")
    assert len(coverage.literal_filters(tree, COLUMNS)) == refused


def test_a_literal_filter_on_postal_code_is_refused_where_it_is():
    sql = "SELECT COUNT(DISTINCT user_id) AS n FROM dsp_impressions\nWHERE postal_code = '10001'"
    with pytest.raises(AmcSqlError) as refused:
        query.prepare(sql, WINDOW)
    (error,) = refused.value.errors
    assert (error.line, error.column) == (2, 7)
    assert "'postal_code' has the aggregation threshold HIGH" in error.message
