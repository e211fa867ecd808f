"""Migration 0002 upgrades a database filled by the first wave's schema in place: weeks keyed by
instance, versions recorded, results tables partitioned by week, nothing lost."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import psycopg
from psycopg import sql

from amc_reports.warehouse import Warehouse, WeekKey
from amc_reports.warehouse.migrate import apply_migrations, available_migrations
from amc_reports.warehouse.verify import verify
from amc_reports_tests.support.warehouse import csv_bytes, new_execution, replace_week_results

REPORT = "weekly_campaign"
WEEKS = [date(2024, 1, 7), date(2024, 1, 14), date(2024, 1, 21)]
AMC_INSTANCE_ID = "amcinstance1"

# The first wave's results table, as `warehouse/results.py` created it then.
WAVE_1_RESULTS_TABLE = """
CREATE TABLE amc_results.weekly_campaign (
    execution_id uuid NOT NULL
        DEFAULT NULLIF(current_setting('amc_reports.execution_id', true), '')::uuid,
    week_start_date date NOT NULL
        DEFAULT NULLIF(current_setting('amc_reports.week_start_date', true), '')::date,
    campaign_id bigint,
    impressions bigint,
    spend double precision,
    note text
);
CREATE INDEX ON amc_results.weekly_campaign (week_start_date, execution_id);
COMMENT ON COLUMN amc_results.weekly_campaign.note IS 'amc_reports:untyped';
"""


def _wave_1_database(url: str) -> dict[date, uuid.UUID]:
    """Migration 0001 only, and what the first wave stored: two completed weeks (one of them
    re-collected after a failed attempt that left its old rows), one failed week."""
    executions: dict[date, uuid.UUID] = {}
    with psycopg.connect(url) as conn:
        applied = apply_migrations(
            conn, results_schema="amc_results", instance_aliases=None, through="0001"
        )
        assert applied == [available_migrations()[0].name]
        conn.execute(WAVE_1_RESULTS_TABLE)
        for index, week in enumerate(WEEKS):
            execution_id = conn.execute(
                "INSERT INTO workflow_executions (report, week_start_date, week_end_date,"
                " amc_instance_id, amc_execution_id, status, time_window_start, time_window_end,"
                " time_zone, sql_hash, row_count)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'UTC', 'sha', %s) RETURNING id",
                (
                    REPORT,
                    week,
                    week + timedelta(days=6),
                    AMC_INSTANCE_ID,
                    f"amc-{index}",
                    "FAILED" if index == 2 else "SUCCEEDED",
                    week,
                    week + timedelta(days=7),
                    None if index == 2 else 10 + index,
                ),
            ).fetchone()[0]
            executions[week] = execution_id
            status = "failed" if index == 2 else "completed"
            conn.execute(
                "INSERT INTO report_data_weeks (report, week_start_date, week_end_date, status,"
                " execution_id, amc_execution_id, record_count)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    REPORT,
                    week,
                    week + timedelta(days=6),
                    status,
                    execution_id,
                    f"amc-{index}",
                    None if index == 2 else 10 + index,
                ),
            )
            if index < 2:
                conn.execute(
                    "INSERT INTO amc_results.weekly_campaign"
                    " (execution_id, week_start_date, campaign_id, impressions, spend)"
                    " SELECT %s, %s, n, n * 100, n * 1.5 FROM generate_series(1, %s) AS n",
                    (execution_id, week, 10 + index),
                )
        # The failed week kept the rows of an earlier execution (as the first wave did).
        earlier = uuid.uuid4()
        conn.execute(
            "INSERT INTO amc_results.weekly_campaign"
            " (execution_id, week_start_date, campaign_id, impressions) VALUES (%s, %s, 1, 5)",
            (earlier, WEEKS[2]),
        )
    return executions


def test_a_wave_1_database_is_upgraded_in_place(fresh_database_url: str):
    executions = _wave_1_database(fresh_database_url)
    warehouse = Warehouse(fresh_database_url)

    applied = warehouse.migrate(instance_aliases={AMC_INSTANCE_ID: "us"})
    assert applied == [m.name for m in available_migrations()[1:]]
    assert warehouse.migrate() == []

    # Weeks and executions are keyed by instance: the config's alias of their AMC instance.
    weeks = warehouse.list_weeks(REPORT)
    assert [(w.week_start_date, w.amc_instance, w.status) for w in weeks] == [
        (WEEKS[0], "us", "completed"),
        (WEEKS[1], "us", "completed"),
        (WEEKS[2], "us", "failed"),
    ]
    assert {e.amc_instance for e in warehouse.list_executions(REPORT, WEEKS[0])} == {"us"}

    # The results table is partitioned by week; nothing was lost.
    with warehouse.connect() as conn:
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'amc_results' AND c.relname = %s",
            (REPORT,),
        ).fetchone()[0]
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'amc_results.weekly_campaign'"
            "::regclass"
        ).fetchone()[0]
        note = conn.execute(
            "SELECT col_description('amc_results.weekly_campaign'::regclass, attnum)"
            " FROM pg_attribute WHERE attrelid = 'amc_results.weekly_campaign'::regclass"
            " AND attname = 'note'"
        ).fetchone()[0]
    assert kind == "p" and partitions == 3
    assert note == "amc_reports:untyped"  # the column's state survives
    assert warehouse.count_week_rows(REPORT, WEEKS[0]) == {executions[WEEKS[0]]: 10}
    assert warehouse.count_week_rows(REPORT, WEEKS[1], "us") == {executions[WEEKS[1]]: 11}
    assert sum(warehouse.count_week_rows(REPORT, WEEKS[2]).values()) == 1

    # Completed weeks have their current version; verify finds everything traced.
    versions = warehouse.list_versions(REPORT)
    assert [(v.week_start_date, v.state, v.row_count) for v in versions] == [
        (WEEKS[0], "current", 10),
        (WEEKS[1], "current", 11),
    ]
    outcome = verify(warehouse)
    assert outcome.ok, outcome.to_dict()
    assert any("not completed" in note for note in outcome.reports[0].notes)

    # A re-collection after the upgrade keeps the migrated rows in history, with what changed.
    again = new_execution(warehouse, REPORT, WEEKS[0], amc_execution_id="amc-new")
    warehouse.life.progress(again, "SUCCEEDED")
    data = csv_bytes(
        ["campaign_id", "impressions", "spend", "note"],
        [[n, n * 110, n * 1.5, ""] for n in range(1, 12)],
    )
    replace_week_results(warehouse, REPORT, WEEKS[0], again, [data])
    history = [v for v in warehouse.list_versions(REPORT, WEEKS[0]) if v.state == "history"]
    assert [v.execution_id for v in history] == [executions[WEEKS[0]]]
    current = warehouse.get_version(again)
    restated = current.restatement
    assert (restated["rows_before"], restated["rows_after"]) == (10, 11)
    assert restated["sums"]["impressions"]["before"] == sum(n * 100 for n in range(1, 11))
    assert (restated["rows_added"], restated["rows_removed"]) == (1, 0)
    final = verify(warehouse)
    assert final.ok, final.reports[0].problems


def test_new_databases_get_partitioned_tables_too(warehouse: Warehouse):
    execution_id = new_execution(warehouse)
    replace_week_results(warehouse, REPORT, WEEKS[0], execution_id, [csv_bytes(["a"], [[1]])])
    with warehouse.connect() as conn:
        parent = conn.execute(
            sql.SQL("SELECT relkind FROM pg_class WHERE oid = {}::regclass").format(
                sql.Literal(warehouse.results_table(REPORT))
            )
        ).fetchone()[0]
    assert parent == "p"
    assert warehouse.get_week_by_key(WeekKey(REPORT, "us", WEEKS[0])).is_completed
