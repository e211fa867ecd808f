"""Re-collections: the replaced rows stay readable in history with their execution_id, what changed
is recorded with the new version, `amc-reports history` shows both, and verify covers them."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from psycopg import sql

from amc_reports.cli import main
from amc_reports.warehouse import Warehouse
from amc_reports.warehouse.loading import LoadOptions
from amc_reports.warehouse.verify import verify
from amc_reports.warehouse.week_life import HistoryRetention
from amc_reports_tests.support.warehouse import csv_bytes, new_execution, replace_week_results

REPORT = "weekly_campaign"
WEEK = date(2024, 1, 7)
HEADER = ["campaign_id", "campaign", "impressions", "spend"]


def load(warehouse: Warehouse, rows: list[list[object]], **options) -> object:
    execution_id = new_execution(warehouse, amc_execution_id=f"amc-{uuid.uuid4().hex[:8]}")
    warehouse.life.progress(execution_id, "SUCCEEDED")
    replace_week_results(
        warehouse,
        REPORT,
        WEEK,
        execution_id,
        [csv_bytes(HEADER, rows)],
        options=LoadOptions(**options),
    )
    return execution_id


FIRST = [[1, "a", 100, 1.5], [2, "b", 200, 2.5], [3, "c", 300, 3.5]]
# Campaign 1 restated, 2 unchanged, 3 gone, 4 new.
SECOND = [[1, "a", 150, 1.5], [2, "b", 200, 2.5], [4, "d", 400, 4.5]]


def test_a_recollection_keeps_the_old_rows_and_records_what_changed(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    second = load(warehouse, SECOND)

    assert warehouse.count_week_rows(REPORT, WEEK) == {second: 3}
    old, new = warehouse.list_versions(REPORT, WEEK)
    assert (old.execution_id, old.state, old.replaced_by) == (first, "history", second)
    assert (new.execution_id, new.state) == (second, "current")
    assert old.table_schema == "amc_results_history"
    with warehouse.connect() as conn:
        kept = conn.execute(
            sql.SQL("SELECT execution_id, campaign_id, impressions FROM {} ORDER BY 2").format(
                sql.Identifier(old.table_schema, old.table_name)
            )
        ).fetchall()
    assert kept == [(first, 1, 100), (first, 2, 200), (first, 3, 300)]

    changes = new.restatement
    assert changes["previous_execution_id"] == str(first)
    assert (changes["rows_before"], changes["rows_after"]) == (3, 3)
    assert changes["key_columns"] == ["campaign_id", "campaign"]
    assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (1, 1, 1)
    assert changes["sums"]["impressions"] == {
        "before": 600,
        "after": 750,
        "relative_change": pytest.approx(0.25),
    }
    assert changes["largest_sum_change"]["column"] in ("impressions", "spend")
    assert new.sums == {"campaign_id": 7, "impressions": 750, "spend": pytest.approx(8.5)}
    assert verify(warehouse).ok


def test_an_unchanged_result_is_known_by_its_checksum(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    same = load(warehouse, FIRST)  # byte for byte: compared without reading either version
    reordered = load(warehouse, FIRST[::-1])  # the same rows, other bytes: compared by keys
    old, middle, new = warehouse.list_versions(REPORT, WEEK)
    assert (old.execution_id, middle.execution_id, new.execution_id) == (first, same, reordered)
    for version in (middle, new):
        changes = version.restatement
        assert (changes["rows_before"], changes["rows_after"]) == (3, 3)
        assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (
            0,
            0,
            0,
        )
        assert changes["sums"]["impressions"] == {
            "before": 600,
            "after": 600,
            "relative_change": 0.0,
        }
        assert version.sums == old.sums
    assert middle.restatement["key_diff_seconds"] == 0  # not compared
    assert new.restatement["key_diff_seconds"] > 0  # compared
    assert warehouse.count_week_rows(REPORT, WEEK) == {reordered: 3}
    assert verify(warehouse).ok


def test_configured_key_columns_decide_what_changed(warehouse: Warehouse):
    load(warehouse, FIRST, key_columns=["campaign"])
    load(
        warehouse,
        [[9, "a", 100, 1.5], [2, "b", 200, 2.5], [3, "c", 300, 3.5]],
        key_columns=["campaign"],
    )
    changes = warehouse.list_versions(REPORT, WEEK)[-1].restatement
    assert changes["key_columns"] == ["campaign"]
    assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (0, 0, 1)


def test_history_retention_drops_old_versions(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    load(warehouse, SECOND, retention=HistoryRetention(max_age_days=0))
    old = warehouse.get_version(first)
    assert old.state == "dropped"
    assert warehouse.count_version_rows(old) is None  # its table is gone
    assert verify(warehouse).ok


def test_verify_covers_the_history(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    load(warehouse, SECOND)
    old = warehouse.get_version(first)
    with warehouse.connect() as conn:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE campaign_id = 1").format(
                sql.Identifier(old.table_schema, old.table_name)
            )
        )
    outcome = verify(warehouse)
    assert not outcome.ok
    [problem] = outcome.reports[0].problems
    assert "history versions not traced" in problem and "2 rows, row_count says 3" in problem


def test_history_command_lists_versions_and_compares_two(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    config = tmp_path / "reports.yaml"
    config.write_text(
        "instances:\n  us:\n    instance_id: amcinstance1\n    advertiser_id: E\n"
        "    marketplace_id: M\nreports:\n  weekly_campaign:\n    instance: us\n"
        "    sql: SELECT 1 AS a\n    start_date: 2024-01-07\n"
    )
    monkeypatch.setenv("AMC_REPORTS_CONFIG", str(config))
    first = load(warehouse, FIRST)
    second = load(warehouse, SECOND)

    assert main(["history", REPORT, WEEK.isoformat()]) == 0
    out = capsys.readouterr().out
    assert str(first) in out and str(second) in out
    assert "history" in out and "current" in out and "3 rows" in out

    assert (
        main(["history", REPORT, WEEK.isoformat(), "--diff", str(first)[:8], str(second)[:8]]) == 0
    )
    out = capsys.readouterr().out
    assert "impressions: 600 -> 750 (+25.000 %)" in out
    assert "+1 -1 ~1" in out

    assert main(["history", REPORT, WEEK.isoformat(), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["state"] for v in listed] == ["history", "current"]

    assert main(["history", "nope", WEEK.isoformat()]) == 2
    assert "not in" in capsys.readouterr().err
    assert main(["history", REPORT, "2024-13-01"]) == 2
    assert main(["history", REPORT, WEEK.isoformat(), "--diff", "zzzz", str(second)]) == 2
    assert "no version" in capsys.readouterr().err


def test_null_and_repeated_keys_are_compared_as_multisets(warehouse: Warehouse):
    # A NULL key matches a NULL key; a repeated key makes the join ambiguous: still exact.
    load(warehouse, [[1, None, 100, 1.0], [2, "b", 200, 2.0], [2, "b", 200, 2.0]])
    load(warehouse, [[1, None, 110, 1.0], [2, "b", 200, 2.0], [3, "c", 300, 3.0]])
    changes = warehouse.list_versions(REPORT, WEEK)[-1].restatement
    assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (1, 1, 1)
    load(warehouse, [[1, None, 110, 1.0], [2, "b", 250, 2.0], [3, "c", 300, 3.0]])
    changes = warehouse.list_versions(REPORT, WEEK)[-1].restatement
    assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (0, 0, 1)
