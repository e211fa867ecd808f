"""The data-quality rules behind the asset checks, on real Postgres, without Dagster."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from amc_reports import quality
from amc_reports.warehouse import Warehouse, WeekKey
from amc_reports_tests.support.reports import new_instance_id, write_config
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    collected_week,
    csv_bytes,
    insert_stray_rows,
    new_execution,
    replace_week_results,
)

REPORT = "weekly_campaign"
WEEK = date(2024, 1, 7)
KEY = WeekKey(REPORT, INSTANCE, WEEK)


def test_a_traced_week_passes_lineage_and_row_counts(warehouse: Warehouse):
    execution_id = collected_week(warehouse, REPORT, WEEK, rows=4, amc_execution_id="amc-1")
    ids = {"execution_id": str(execution_id), "amc_execution_id": "amc-1"}
    assert quality.lineage(warehouse, KEY, ids).passed
    counts = quality.row_counts(warehouse, KEY)
    assert counts.passed and counts.metadata["rows_stored"] == 4


def test_lineage_fails_when_the_materialization_names_another_execution(warehouse: Warehouse):
    collected_week(warehouse, REPORT, WEEK, amc_execution_id="amc-1")
    outcome = quality.lineage(warehouse, KEY, {"execution_id": "x", "amc_execution_id": "amc-1"})
    assert not outcome.passed and "materialization says execution_id x" in outcome.description
    assert not quality.lineage(warehouse, KEY, None).passed


def test_row_counts_fail_on_foreign_rows(warehouse: Warehouse):
    collected_week(warehouse, REPORT, WEEK, rows=2)
    insert_stray_rows(warehouse, REPORT, WEEK, uuid.uuid4(), {"campaign_id": 9})
    outcome = quality.row_counts(warehouse, KEY)
    assert not outcome.passed
    assert outcome.metadata["rows_of_other_executions"] == 1


def test_a_week_not_collected_fails_every_rule_and_says_so(warehouse: Warehouse):
    warehouse.life.claim(KEY, run_id="r")
    for rule in (quality.row_counts, quality.schema_stable, quality.not_empty, quality.week_final):
        outcome = rule(warehouse, KEY)
        assert not outcome.passed and "not collected (status: running)" in outcome.description


def test_schema_changes_and_empty_weeks_are_described(warehouse: Warehouse):
    collected_week(warehouse, REPORT, WEEK)
    later = WEEK + timedelta(days=7)
    execution_id = new_execution(warehouse, REPORT, later, amc_execution_id="amc-2")
    replace_week_results(warehouse, REPORT, later, execution_id, [csv_bytes(["campaign_id"], [])])
    schema = quality.schema_stable(warehouse, WeekKey(REPORT, INSTANCE, later))
    assert not schema.passed and "missing impressions" in schema.description
    empty = quality.not_empty(warehouse, WeekKey(REPORT, INSTANCE, later))
    assert not empty.passed and empty.metadata == {"record_count": 0}


def test_freshness_names_the_newest_final_week(warehouse: Warehouse, tmp_path):
    report = next(iter(write_config(tmp_path, new_instance_id()).reports.values()))
    now = datetime(2026, 4, 1, 12, tzinfo=UTC)
    outcome = quality.freshness(warehouse, report, now=now)
    assert not outcome.passed
    assert outcome.metadata["newest_final_week"] == "2026-03-08"
    collected_week(warehouse, report.name, date(2026, 3, 8), instance="test")
    assert quality.freshness(warehouse, report, now=now).passed
