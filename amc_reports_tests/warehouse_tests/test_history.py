"""Re-collections: the replaced rows stay readable in history with their execution_id, what changed
is recorded with the new version, `amc-reports history` shows both, and verify covers them."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from psycopg import sql

from amc_reports import quality
from amc_reports.cli import main
from amc_reports.warehouse import Warehouse, restatement
from amc_reports.warehouse.loading import LoadOptions, ResultLoadError
from amc_reports.warehouse.rows import WeekKey
from amc_reports.warehouse.verify import verify
from amc_reports.warehouse.versions import HistoryRetention
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    csv_bytes,
    new_execution,
    point_cli_at,
    replace_week_results,
)

REPORT = "weekly_campaign"
WEEK = date(2024, 1, 7)
HEADER = ["campaign_id", "campaign", "impressions", "spend"]


def load(
    warehouse: Warehouse,
    rows: list[list[object]],
    *,
    report: str = REPORT,
    header: list[str] = HEADER,
    **options,
) -> object:
    execution_id = new_execution(warehouse, report, amc_execution_id=f"amc-{uuid.uuid4().hex[:8]}")
    warehouse.life.progress(execution_id, "SUCCEEDED")
    replace_week_results(
        warehouse,
        report,
        WEEK,
        execution_id,
        [csv_bytes(header, rows)],
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
    assert changes["measures"] == ["impressions", "spend"]  # campaign_id is an id: not summed
    assert new.sums == {"impressions": 750, "spend": pytest.approx(8.5)}
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
    point_cli_at(warehouse, monkeypatch, tmp_path, REPORT)
    first = load(warehouse, FIRST)
    second = load(warehouse, SECOND)

    assert main(["history", REPORT, WEEK.isoformat()]) == 0
    out = capsys.readouterr().out
    assert str(first) in out and str(second) in out
    assert "history" in out and "current" in out and "3 rows" in out
    assert "sums: impressions=750, spend=8.5" in out and "campaign_id=" not in out

    assert (
        main(["history", REPORT, WEEK.isoformat(), "--diff", str(first)[:8], str(second)[:8]]) == 0
    )
    out = capsys.readouterr().out
    assert "impressions: 600 -> 750 (+25.000 %)" in out and "  campaign_id:" not in out
    assert "1 added, 1 removed, 1 changed" in out and "(recorded at the load)" in out
    assert "rows matched by: campaign_id" in out
    # Two versions that are not one and the one it replaced: compared from their stored rows.
    assert main(["history", REPORT, WEEK.isoformat(), "--diff", str(second), str(first)]) == 0
    out = capsys.readouterr().out
    assert "(computed now)" in out and "impressions: 750 -> 600 (-20.000 %)" in out

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


RATIO_REPORT = "campaign_ratios"
RATIO_HEADER = ["campaign_id", "campaign", "impressions", "clicks", "ctr", "roas"]
RATIOS = [[1, "a", 100, 10, 0.1, 2.0], [2, "b", 200, 20, 0.1, 3.0], [3, "c", 300, 30, 0.1, 4.0]]
# Campaign c gone, d new with the same traffic: ids and ratios move, the measures do not.
SWAPPED = [[1, "a", 100, 10, 0.1, 2.0], [2, "b", 200, 20, 0.1, 3.0], [4, "d", 300, 30, 0.125, 5.0]]


def check(warehouse: Warehouse, report: str = RATIO_REPORT) -> quality.CheckOutcome:
    return quality.restatement_within_tolerance(warehouse, WeekKey(report, INSTANCE, WEEK), 0.01)


def test_ids_and_ratios_are_not_summed_and_a_new_campaign_is_a_row_added(warehouse: Warehouse):
    load(warehouse, RATIOS, report=RATIO_REPORT, header=RATIO_HEADER)
    load(warehouse, SWAPPED, report=RATIO_REPORT, header=RATIO_HEADER)
    new = warehouse.list_versions(RATIO_REPORT, WEEK)[-1]
    changes = new.restatement
    assert changes["measures"] == ["clicks", "impressions"]
    assert set(changes["sums"]) == {"clicks", "impressions"} and set(new.sums) == set(
        changes["sums"]
    )
    assert changes["key_columns"] == ["campaign_id", "campaign"]
    assert (changes["rows_added"], changes["rows_removed"], changes["rows_changed"]) == (1, 1, 0)
    assert restatement.largest_change(changes) == 0
    outcome = check(warehouse)
    assert outcome.passed, outcome.description
    assert "1 added, 1 removed" in outcome.description and "campaign_id" not in outcome.description

    # A measure moving by more than the tolerance is what fails the check, and it is named.
    moved = [row[:2] + [row[2] * 1.05] + row[3:] for row in SWAPPED]
    load(warehouse, moved, report=RATIO_REPORT, header=RATIO_HEADER)
    outcome = check(warehouse)
    assert not outcome.passed
    assert "largest sum change impressions +5.00 %" in outcome.description


def test_configured_measures_are_summed_and_a_missing_one_refuses_the_week(warehouse: Warehouse):
    first = load(warehouse, RATIOS, report=RATIO_REPORT, header=RATIO_HEADER, measures=["clicks"])
    load(warehouse, SWAPPED, report=RATIO_REPORT, header=RATIO_HEADER, measures=["clicks"])
    assert warehouse.list_versions(RATIO_REPORT, WEEK)[-1].restatement["measures"] == ["clicks"]
    with pytest.raises(ResultLoadError) as refused:
        load(warehouse, RATIOS, report=RATIO_REPORT, header=RATIO_HEADER, measures=["spend"])
    message = str(refused.value)
    assert "spend (missing)" in message and "fix `measures`" in message
    assert "its previous rows are kept" in message
    assert len(warehouse.list_versions(RATIO_REPORT, WEEK)) == 2  # nothing stored
    assert first in {v.execution_id for v in warehouse.list_versions(RATIO_REPORT, WEEK)}


def test_a_restatement_stored_before_measures_is_judged_by_its_measures():
    # Recorded by an earlier version: campaign_id and ctr summed, the row count judged.
    legacy = {
        "rows_before": 5,
        "rows_after": 6,
        "row_count_relative_change": 0.2,
        "key_columns": ["campaign_id", "campaign"],
        "sums": {
            "campaign_id": {"before": 15, "after": 21, "relative_change": 0.4},
            "ctr": {"before": 0.5, "after": 0.7, "relative_change": 0.4},
            "impressions": {"before": 1000, "after": 1005, "relative_change": 0.005},
        },
        "largest_sum_change": {"column": "campaign_id", "relative_change": 0.4},
    }
    assert list(restatement.judged_sums(legacy)) == ["impressions"]
    assert restatement.largest_change(legacy) == pytest.approx(0.005)
    assert restatement.largest_sum_change(legacy) == {
        "column": "impressions",
        "relative_change": pytest.approx(0.005),
    }
    # Without measures, the row count is what is judged.
    assert (
        restatement.largest_change(
            {"rows_before": 4, "rows_after": 5, "row_count_relative_change": 0.25, "sums": {}}
        )
        == 0.25
    )


def test_the_default_measure_rule():
    columns = [
        ("campaign_id", "bigint"),
        ("campaign", "text"),
        ("impressions", "bigint"),
        ("spend", "double precision"),
        ("ctr", "double precision"),
        ("purchase_rate", "double precision"),
        ("avg_cpc", "numeric"),
        ("cost_per_click", "numeric"),
        ("ntb_share", "double precision"),
        ("ad_group_ids", "bigint"),
        ("paid_clicks", "bigint"),
        ("return_on_ad_spend", "double precision"),
    ]
    keys = restatement.default_key_columns(columns)
    assert keys == ["campaign_id", "campaign", "ad_group_ids"]
    assert restatement.measure_columns(columns, keys) == ["impressions", "spend", "paid_clicks"]
    assert restatement.measure_columns(columns, keys, ["ctr"]) == ["ctr"]
    with pytest.raises(restatement.MissingMeasures, match="campaign \\(text\\)"):
        restatement.measure_columns(columns, keys, ["campaign"])


def test_history_diff_and_check_read_one_record_after_a_tampered_history_row(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
):
    point_cli_at(warehouse, monkeypatch, tmp_path, REPORT)
    first = load(warehouse, FIRST)
    second = load(warehouse, SECOND)
    old = warehouse.get_version(first)
    with warehouse.connect() as conn:  # someone deletes a kept row of the old version
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE campaign_id = 1").format(
                sql.Identifier(old.table_schema, old.table_name)
            )
        )

    assert main(["history", REPORT, WEEK.isoformat(), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    diff = ["--diff", str(first), str(second)]
    assert main(["history", REPORT, WEEK.isoformat(), "--json", *diff]) == 0
    diffed = json.loads(capsys.readouterr().out)
    outcome = check(warehouse, REPORT)

    assert listed[0]["rows"] == diffed["rows_before"] == outcome.metadata["rows_before"] == 3
    assert listed[1]["restatement"]["sums"] == diffed["sums"]
    assert diffed["recorded"] is True
    assert main(["history", REPORT, WEEK.isoformat(), "--diff", str(first), str(second)]) == 0
    assert "(recorded at the load)" in capsys.readouterr().out
    assert not verify(warehouse).ok  # the tampering itself is what verify finds
