"""The sandbox runs the report's SQL on synthetic AMC data (over HTTP, `rows: null`)."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from amc_reports.amc import AmcClient
from amc_reports.amc_sql import (
    NO_AGGREGATION,
    NO_LIMIT,
    NO_ORDER_BY,
    NO_SELECT_STAR,
)
from amc_reports.config import load_config
from amc_reports.local.sandbox import query
from amc_reports.local.sandbox.sql_runs import csv_value
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.amc_tests.helpers import TZ, read_result, wait_terminal
from amc_reports_tests.fixtures_sandbox import SandboxHandle

INSTANCE = "amcsqltest01"
VOLUME = 20_000  # impressions a day: small enough for quick tests, large enough for results


def _week(weeks_ago: int) -> tuple[date, str, str]:
    today = date.today()
    sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    start = sunday - timedelta(weeks=weeks_ago)
    end = start + timedelta(days=7)
    return start, f"{start}T00:00:00", f"{end}T00:00:00"


WEEK_START, WINDOW_START, WINDOW_END = _week(5)
SETTLED = f"{WEEK_START + timedelta(days=25)}T00:00:00Z"  # every conversion of the week arrived


def _use_sql(sandbox: SandboxHandle, **settings) -> None:
    settings = {"rows": None, "impressions_per_day": VOLUME, "data_as_of": SETTLED, **settings}
    sandbox.set_config({"instances": {INSTANCE: {"latency_seconds": 0.2, **settings}}})


def _run(client: AmcClient, sql: str | None = None, *, workflow_id: str | None = None, **kw):
    record = client.create_execution(
        INSTANCE,
        sql=sql,
        workflow_id=workflow_id,
        time_window_start=kw.pop("start", WINDOW_START),
        time_window_end=kw.pop("end", WINDOW_END),
        time_zone=TZ,
        **kw,
    )
    return wait_terminal(client, INSTANCE, record.execution_id, timeout=120)


def _table(client: AmcClient, record) -> list[dict[str, str]]:
    assert record.status == "SUCCEEDED", record.failure_reason
    data = read_result(client, INSTANCE, record.execution_id).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data)))


@pytest.fixture
def client(sandbox: SandboxHandle):
    _use_sql(sandbox)
    with sandbox.client() as amc:
        yield amc


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (  # the query: it used to end SUCCEEDED with made-up columns
            "SELECT campaign_idd, SUM(impresions) FROM no_such_table WHERE nonsense(((",
            "line 1:73: syntax error: the query ends unexpectedly after '('",
        ),
        (
            "SELECT campaign_idd, SUM(impressions) FROM sponsored_ads_traffic GROUP BY 1",
            "line 1:8: Column 'campaign_idd' cannot be resolved (did you mean 'campaign_id'?)",
        ),
        (
            "SELECT campaign\nFROM sponsored_ads_trafic\nGROUP BY campaign",
            "line 2:6: Table 'sponsored_ads_trafic' does not exist",
        ),
        (
            "SELECT campaign, nonsense(impressions) AS x\nFROM dsp_impressions GROUP BY 1",
            "line 1:18: Function 'nonsense' is not registered",
        ),
        (
            "SELECT campaign FROM dsp_impressions WHERE BUILT_IN_PARAMETER('YESTERDAY') > 0 "
            "GROUP BY 1",
            "line 1:44: unknown BUILT_IN_PARAMETER 'YESTERDAY' "
            "(known: TIME_WINDOW_END, TIME_WINDOW_START)",
        ),
        (  # every problem at once, in the order of the text; AMC's limitations in its words
            "SELECT campain, COUNT(*) AS n\nFROM dsp_impressions -- DSP\nGROUP BY 1 ORDER BY n\n"
            "LIMIT 3",
            "line 1:8: Column 'campain' cannot be resolved (did you mean 'campaign'?); "
            f"line 3:12: {NO_ORDER_BY}; line 4:1: {NO_LIMIT}",
        ),
        (
            "SELECT * FROM dsp_impressions",
            f"line 1:1: {NO_AGGREGATION}; line 1:8: {NO_SELECT_STAR}",
        ),
    ],
)
def test_a_broken_query_fails_with_its_reason_and_position(client, sql, reason):
    record = _run(client, sql)
    assert record.status == "FAILED"
    assert record.failure_reason == f"Query validation failed: {reason}"


def test_a_broken_query_fails_in_synthetic_rows_mode_too(client, sandbox):
    _use_sql(sandbox, rows=5)
    assert _run(client, "SELECT a FROM t WHERE").status == "FAILED"
    ok = _table(client, _run(client, "SELECT a, SUM(b) AS b FROM anything GROUP BY a"))
    assert len(ok) == 5  # invented rows: any table, a predictable size


def _example_sql() -> dict[str, str]:
    config = load_config(PROJECT_ROOT / "reports.yaml")
    return {name: report.sql for name, report in config.reports.items() if report.sql}


def test_example_reports_give_numbers_that_obey_their_definitions(client, sandbox):
    _use_sql(sandbox, impressions_per_day=50_000)
    for name, sql in _example_sql().items():
        client.create_workflow(INSTANCE, name, sql, distinct_user_count_column="users_covered")
    rows = {name: _table(client, _run(client, workflow_id=name)) for name in _example_sql()}

    performance = rows["weekly_campaign_performance"]
    assert performance, "every sponsored ads campaign has traffic"
    for row in performance:
        impressions, clicks = int(row["impressions"]), int(row["clicks"])
        assert 0 < clicks <= impressions
        assert math.isclose(float(row["click_through_rate"]), clicks / impressions)
        spend, sales = float(row["spend"]), float(row["sales"])
        assert spend > 0 and sales >= 0 and int(row["purchases"]) >= 0
        assert math.isclose(float(row["return_on_ad_spend"]), sales / spend, rel_tol=1e-9)
        assert 0.5 < float(row["return_on_ad_spend"]) < 20  # plausible for sponsored ads

    reach = rows["reach_and_frequency"]
    assert reach
    for row in reach:
        users, impressions = int(row["reach"]), int(row["impressions"])
        assert users <= impressions
        assert float(row["average_frequency"]) >= 1
        assert math.isclose(float(row["average_frequency"]), impressions / users)
        assert WINDOW_START[:10] <= row["event_date"] < WINDOW_END[:10]

    brand = rows["new_to_brand"]
    assert brand
    for row in brand:
        assert int(row["new_to_brand_purchasers"]) <= int(row["purchasers"])
        assert int(row["purchasers"]) <= int(row["purchases"])
        assert int(row["new_to_brand_purchases"]) <= int(row["purchases"])
        assert Decimal(row["new_to_brand_sales"]) <= Decimal(row["sales"])
        rate = int(row["new_to_brand_purchases"]) / int(row["purchases"])
        assert math.isclose(float(row["new_to_brand_rate"]), rate)

    for row in rows["path_to_conversion"]:
        assert int(row["path_length"]) == row["path"].count(" > ") + 1
        assert int(row["purchases"]) >= int(row["users"]) == int(row["users_covered"])

    for name, table in rows.items():  # AMC's threshold: no row covers fewer than 100 users
        assert all(int(row["users_covered"]) >= 100 for row in table), name


def test_identical_inputs_give_identical_results(client):
    sql = _example_sql()["reach_and_frequency"]
    first = read_result(client, INSTANCE, _run(client, sql).execution_id)
    second = read_result(client, INSTANCE, _run(client, sql).execution_id)
    assert first == second and first.count(b"\n") > 10
    # and in another process: the same query run offline gives the same rows
    window = query.Window.parse(WINDOW_START, WINDOW_END, TZ)
    settings = query.DataSettings(
        INSTANCE, VOLUME, datetime.fromisoformat(SETTLED.replace("Z", "+00:00"))
    )
    offline = query.run(query.check(query.prepare(sql, window)), window, settings)
    lines = first.decode("utf-8").splitlines()
    assert lines[0].split(",") == [c.name for c in offline.columns]
    assert sorted(lines[1:]) == sorted(",".join(csv_value(v) for v in r) for r in offline.rows)


def test_late_conversions_arrive_until_the_week_is_final(client, sandbox):
    """A week collected right after it ends, and again once final, differs deterministically:
    traffic is complete at once, attributed conversions keep arriving for 14 days."""
    sql = _example_sql()["weekly_campaign_performance"]
    week_end = WEEK_START + timedelta(days=7)
    seen = {}
    moments = {"early": week_end + timedelta(days=1), "final": week_end + timedelta(days=16)}
    for label, as_of in moments.items():
        _use_sql(sandbox, data_as_of=f"{as_of}T00:00:00Z")
        seen[label] = {r["campaign_id"]: r for r in _table(client, _run(client, sql))}
        again = {r["campaign_id"]: r for r in _table(client, _run(client, sql))}
        assert again == seen[label]  # deterministic for a given data_as_of
    early, final = seen["early"], seen["final"]
    assert early.keys() == final.keys()
    for campaign, row in final.items():
        assert row["impressions"] == early[campaign]["impressions"]
        assert row["clicks"] == early[campaign]["clicks"]
        assert int(row["purchases"]) >= int(early[campaign]["purchases"])
    assert sum(int(r["purchases"]) for r in final.values()) > sum(
        int(r["purchases"]) for r in early.values()
    )


def test_rows_under_the_threshold_are_dropped_or_marked(client):
    sql = (  # event_dt is a MEDIUM column: rows need 100 users (event_hour, LOW, would need 2)
        "SELECT campaign, HOUR(event_dt) AS event_hour, SUM(impressions) AS impressions, "
        "SUM(clicks) AS clicks FROM sponsored_ads_traffic GROUP BY 1, 2"
    )
    kept = _table(client, _run(client, sql))
    client.create_workflow(
        INSTANCE,
        "hourly",
        sql,
        filtered_metrics_discriminator_column="filtered",
        distinct_user_count_column="users",
    )
    marked = _table(client, _run(client, workflow_id="hourly"))
    under = [r for r in marked if r["filtered"] == "true"]
    over = [r for r in marked if r["filtered"] == "false"]
    assert under and kept, "night hours of small campaigns cover fewer than 100 users"
    assert len(over) == len(kept)
    assert all(int(r["users"]) >= 100 for r in over)
    # AMC's "Filtered output": a column is blanked when the row's users are under its level
    # (event_dt MEDIUM: 100), the others kept (impressions, clicks NONE; campaign LOW: 2), and
    # the rows blanked alike are re-aggregated with SUM: one row per campaign left.
    for row in under:
        assert row["event_hour"] == "" and row["impressions"] and row["clicks"]
        assert int(row["users"]) > 0  # AMC reports the users of filtered rows too
    assert len({r["campaign"] for r in under}) == len(under)
    strip = ("filtered", "users")
    assert sorted(tuple(v for k, v in r.items() if k not in strip) for r in over) == sorted(
        tuple(r.values()) for r in kept
    )
    total = _table(client, _run(client, "SELECT SUM(impressions) AS i FROM sponsored_ads_traffic"))
    assert sum(int(r["impressions"]) for r in marked) == int(total[0]["i"])  # nothing lost


def test_amc_parameters_and_functions(client):
    sql = """
        SELECT
            ad_product_type,
            MIN(traffic_event_dt) >= BUILT_IN_PARAMETER('TIME_WINDOW_START') AS starts_in_window,
            MAX(traffic_event_dt) < BUILT_IN_PARAMETER('TIME_WINDOW_END') AS ends_in_window,
            MIN(SECONDS_BETWEEN(traffic_event_dt, conversion_event_dt)) AS min_lag,
            MAX(DAYS_BETWEEN(traffic_event_dt, conversion_event_dt)) AS max_lag_days,
            COUNT(DISTINCT user_id) AS users
        FROM amazon_attributed_events_by_traffic_time
        WHERE conversion_event_subtype = CUSTOM_PARAMETER('subtype')
        GROUP BY ad_product_type
    """
    record = _run(client, sql, parameter_values={"subtype": "detailPageView"})
    rows = _table(client, record)
    assert rows
    for row in rows:
        assert row["starts_in_window"] == row["ends_in_window"] == "true"
        assert int(row["min_lag"]) > 0
        assert int(row["max_lag_days"]) <= 14
    start = datetime.fromisoformat(WINDOW_START).replace(tzinfo=UTC)
    assert start < datetime.now(UTC)


def test_a_query_that_fails_while_running_fails_its_execution(client):
    """Binding succeeds (the types fit), running does not: the execution, held RUNNING while its
    query runs, ends FAILED and is never seen SUCCEEDED."""
    sql = "SELECT campaign, SUM(spend * 100000000000000) AS n FROM sponsored_ads_traffic GROUP BY 1"
    record = _run(client, sql)
    assert record.status == "FAILED"
    assert record.failure_reason.startswith("Query execution failed: Overflow in multiplication")


def test_amc_functions_over_http_follow_amc_semantics(client, sandbox):
    """AMC's own functions, as a workflow runs them: the day of the week 1-7 (Sunday 1), 'today'
    as the execution's "now" (`data_as_of`), NAMED_ROW and COLLECT in the CSV as AMC's JSON."""
    _use_sql(sandbox, data_as_of="2026-04-01T13:30:00Z")
    sql = """
        SELECT DAYOFWEEK(impression_date) AS dow,
               MIN(CAST('today' AS DATE)) AS today,
               MIN(NAMED_ROW('first', 1, 'second', 'b')) AS pair,
               ARRAY_SORT(COLLECT(DISTINCT device_type)) AS devices,
               COUNT(DISTINCT user_id) AS users
        FROM dsp_impressions
        GROUP BY 1"""
    rows = _table(client, _run(client, sql, start="2026-03-01T00:00:00", end="2026-03-08T00:00:00"))
    assert sorted(int(r["dow"]) for r in rows) == [1, 2, 3, 4, 5, 6, 7]
    assert {r["today"] for r in rows} == {"2026-04-01"}
    assert {r["pair"] for r in rows} == {'{"first":1,"second":"b"}'}
    assert all(r["devices"].startswith('["') for r in rows)
    extended = _table(
        client,
        _run(
            client,
            "SELECT MIN(impression_date) AS first, COUNT(DISTINCT user_id) AS users\n"
            "FROM TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P7D', 'P0D'))",
            start="2026-03-01T00:00:00",
            end="2026-03-08T00:00:00",
        ),
    )
    assert [r["first"] for r in extended] == ["2026-02-22"]
    refused = _run(client, "SELECT COLLECT(user_id) AS ids FROM dsp_impressions")
    assert refused.status == "FAILED"
    assert "would export user ids gathered from many users" in refused.failure_reason


def test_a_paid_table_fails_on_an_instance_without_the_feature(client, sandbox):
    sql = (
        "SELECT m.segment_name, COUNT(DISTINCT a.user_id) AS users\n"
        "FROM audience_segments_amer_inmarket a\n"
        "JOIN segment_metadata m ON m.segment_id = a.segment_id\n"
        "GROUP BY m.segment_name"
    )
    _use_sql(sandbox, paid_features=["flexible_shopping_insights"])
    record = _run(client, sql)
    assert record.status == "FAILED"
    assert record.failure_reason.startswith(
        "Query validation failed: line 2:6: Table 'audience_segments_amer_inmarket' does not exist"
        " for this instance: it is part of the paid feature 'audience_segment_insights'"
    )
    assert "line 3:6: Table 'segment_metadata' does not exist" in record.failure_reason
    _use_sql(sandbox)  # the default: every paid feature
    rows = _table(client, _run(client, sql))
    assert rows and all(int(r["users"]) >= 100 for r in rows)
