"""Every execution and week records the AMC it came from (live or the sandbox, and the API host);
one (report, instance) never mixes the two; `verify` reports a mix; migration 0007 marks older
rows 'unknown'."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from amc_reports.amc import AmcClientConfig, AmcCredentials
from amc_reports.warehouse import LoadResult, MixedAmcSourceError, Warehouse, WeekKey
from amc_reports.warehouse.migrate import apply_migrations
from amc_reports.warehouse.verify import verify
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    WEEK,
    csv_bytes,
    replace_week_results,
    submission,
)

REPORT = "weekly_campaign"
LIVE = ("live", "advertising-api.amazon.com")
SANDBOX = ("sandbox", "127.0.0.1:8765")


def record(warehouse: Warehouse, source: tuple[str, str], week: date = WEEK, instance=INSTANCE):
    return warehouse.life.record_submission(
        WeekKey(REPORT, instance, week),
        replace(submission(week=week), amc_source=source[0], amc_api_host=source[1]),
        run_id="run-1",
    )


def load(warehouse: Warehouse, execution_id) -> LoadResult:
    amc_id = f"amc-{execution_id.hex[:12]}"
    warehouse.life.attach(execution_id, amc_id, submitted_at=datetime.now(UTC))
    warehouse.life.progress(execution_id, "SUCCEEDED")
    data = csv_bytes(["campaign_id", "impressions"], [[1, 10], [2, 20]])
    week = warehouse.get_execution(execution_id).week_start_date
    return replace_week_results(
        warehouse, REPORT, week, execution_id, [data], amc_execution_id=amc_id
    )


def executions(warehouse: Warehouse) -> int:
    with warehouse.connect() as conn:
        return conn.execute("SELECT count(*) FROM workflow_executions").fetchone()[0]


def test_the_week_carries_its_executions_source_and_host(warehouse: Warehouse):
    execution_id = record(warehouse, LIVE)
    assert warehouse.get_execution(execution_id).amc_source == "live"
    loaded = load(warehouse, execution_id)
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.status, week.amc_source, week.amc_api_host) == ("completed", *LIVE)
    # The load returns the source it wrote (the materialization's metadata reads nothing back).
    assert (loaded.amc_source, loaded.amc_api_host) == LIVE


def test_sandbox_results_are_refused_where_live_weeks_are_stored(warehouse: Warehouse):
    load(warehouse, record(warehouse, LIVE))
    before = executions(warehouse)
    with pytest.raises(MixedAmcSourceError) as err:
        record(warehouse, SANDBOX, WEEK + timedelta(days=7))
    assert str(err.value) == (
        f"report 'weekly_campaign' on instance '{INSTANCE}': refusing results from the AMC "
        "sandbox (127.0.0.1:8765): its stored weeks came from live AMC "
        f"(advertising-api.amazon.com) (e.g. week {WEEK}). Sandbox and live weeks of one report "
        "and instance never mix: use another database for the sandbox "
        "(AMC_REPORTS_DATABASE_URL), or delete the report's weeks of the other AMC first."
    )
    assert executions(warehouse) == before  # nothing recorded, nothing submitted
    # Another instance of the same report, and the same source, are fine.
    load(warehouse, record(warehouse, SANDBOX, instance="eu"))
    load(warehouse, record(warehouse, LIVE, WEEK + timedelta(days=7)))


def test_the_load_refuses_a_mix_that_began_before_either_week_completed(warehouse: Warehouse):
    sandbox_week = WEEK + timedelta(days=7)
    live, sandbox = record(warehouse, LIVE), record(warehouse, SANDBOX, sandbox_week)
    load(warehouse, live)
    with pytest.raises(MixedAmcSourceError, match="refusing results from the AMC sandbox"):
        load(warehouse, sandbox)
    assert warehouse.get_week(REPORT, sandbox_week).status != "completed"
    assert warehouse.count_rows(REPORT).get((INSTANCE, sandbox_week), {}) == {}


def test_verify_reports_mixed_sources_and_counts_them(warehouse: Warehouse):
    load(warehouse, record(warehouse, LIVE))
    other = WEEK + timedelta(days=7)
    load(warehouse, record(warehouse, LIVE, other))
    with warehouse.connect() as conn:  # as only SQL by hand (or an old release) could leave it
        conn.execute(
            "UPDATE report_data_weeks SET amc_source = 'sandbox', amc_api_host = %s"
            " WHERE week_start_date = %s",
            (SANDBOX[1], other),
        )
    [report] = verify(warehouse).reports
    assert report.amc_sources == {"live": 1, "sandbox": 1}
    assert (
        f"mixed AMC sources on {INSTANCE}: 1 live week(s) from advertising-api.amazon.com, "
        "1 sandbox week(s) from 127.0.0.1:8765" in report.problems
    )
    assert not report.ok


def test_migration_0007_marks_older_rows_unknown_and_they_never_conflict(fresh_database_url):
    with psycopg.connect(fresh_database_url) as conn:
        apply_migrations(conn, results_schema="amc_results", instance_aliases={}, through="0006")
        # A completed week and its execution as 0006 stored them (no source).
        execution_id = conn.execute(
            "INSERT INTO workflow_executions (report, amc_instance, week_start_date,"
            " week_end_date, amc_instance_id, amc_execution_id, status, time_window_start,"
            " time_window_end, time_zone, sql_hash, row_count)"
            " VALUES (%s, %s, %s, %s, 'amcinstance1', 'amc-old', 'SUCCEEDED', %s, %s,"
            " 'America/New_York', 'old', 0) RETURNING id",
            (REPORT, INSTANCE, WEEK, WEEK + timedelta(days=6), WEEK, WEEK + timedelta(days=7)),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO report_data_weeks (report, amc_instance, week_start_date, week_end_date,"
            " status, execution_id, amc_execution_id, record_count)"
            " VALUES (%s, %s, %s, %s, 'completed', %s, 'amc-old', 0)",
            (REPORT, INSTANCE, WEEK, WEEK + timedelta(days=6), execution_id),
        )
    store = Warehouse(fresh_database_url)
    assert "0007_amc_source" in store.migrate()
    assert store.get_execution(execution_id).amc_source == "unknown"
    assert store.get_week(REPORT, WEEK).amc_source == "unknown"
    # Unknown conflicts with neither source.
    load(store, record(store, SANDBOX, WEEK + timedelta(days=7)))
    [report] = verify(store).reports
    assert report.amc_sources == {"unknown": 1, "sandbox": 1}
    assert any("source unknown" in note and INSTANCE in note for note in report.notes)
    assert not any("mixed" in problem for problem in report.problems)


def test_the_api_host_is_host_and_port_only():
    config = AmcClientConfig(
        api_base_url="https://user:pw@advertising-api-eu.amazon.com:8443/amc/reporting?x=1",
        token_url="https://api.amazon.com/auth/o2/token",
        credentials=AmcCredentials("host-test-id", "host-test-s3cret-81", "Atzr|host-test"),
        advertiser_id=None,
        marketplace_id=None,
    )
    assert config.api_host == "advertising-api-eu.amazon.com:8443"
    assert config.source == "live"
    with pytest.raises(ValueError, match="source must be one of live, sandbox"):
        replace(config, source="staging")
