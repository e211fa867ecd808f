"""A re-collection is compared with the version it replaced once its load committed, in a
transaction of its own (so the comparison does not lengthen the load): the measures' sums of both
versions and the rows by key, attached to the new version. A first collection is not summed (there
is nothing to compare it with); the re-collection measures both. A comparison that fails leaves
the week stored and its restatement incomplete, which the check and `history` complete when they
read it; a cut connection is run again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date

import pytest
from psycopg import sql

from amc_reports import quality
from amc_reports.cli import main
from amc_reports.warehouse import Warehouse, WeekKey, restatement
from amc_reports.warehouse.loading import LoadOptions
from amc_reports.warehouse.verify import verify
from amc_reports.warehouse.versions import HistoryRetention
from amc_reports_tests.support.warehouse import (
    csv_bytes,
    new_execution,
    point_cli_at,
    replace_week_results,
)

REPORT = "weekly_campaign"
WEEK = date(2024, 1, 7)
HEADER = ["campaign_id", "campaign", "impressions", "spend"]
FIRST = [[1, "a", 100, 1.5], [2, "b", 200, 2.5], [3, "c", 300, 3.5]]
# Campaign 1 restated, 2 unchanged, 3 gone, 4 new.
SECOND = [[1, "a", 150, 1.5], [2, "b", 200, 2.5], [4, "d", 400, 4.5]]

# Fires on the one UPDATE of week_versions that changes a restatement: the comparison's.
ON_COMPARISON = (
    "CREATE TRIGGER test_on_comparison BEFORE UPDATE ON week_versions FOR EACH ROW"
    " WHEN (OLD.restatement IS DISTINCT FROM NEW.restatement)"
    " EXECUTE FUNCTION {}()"
)


def load(warehouse: Warehouse, rows: list[list[object]], **options) -> uuid.UUID:
    execution_id = new_execution(warehouse, REPORT, amc_execution_id=f"amc-{uuid.uuid4().hex[:8]}")
    warehouse.life.progress(execution_id, "SUCCEEDED")
    result = replace_week_results(
        warehouse,
        REPORT,
        WEEK,
        execution_id,
        [csv_bytes(HEADER, rows)],
        options=LoadOptions(**options),
    )
    assert result.record_count == len(rows)
    return execution_id


def refuse_comparisons(warehouse: Warehouse) -> None:
    """Every comparison after a load fails (the UPDATE that records it raises)."""
    with warehouse.connect() as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'comparison refused by the test'; END $$"
        )
        conn.execute(ON_COMPARISON.format("test_refuse"))


def changes_of(warehouse: Warehouse, execution_id: uuid.UUID) -> tuple:
    recorded = warehouse.get_version(execution_id).restatement
    return recorded["rows_added"], recorded["rows_removed"], recorded["rows_changed"]


def test_the_comparison_is_attached_to_the_version_and_returned(warehouse: Warehouse):
    load(warehouse, FIRST)
    execution_id = new_execution(warehouse, REPORT, amc_execution_id="amc-second")
    warehouse.life.progress(execution_id, "SUCCEEDED")
    result = replace_week_results(
        warehouse, REPORT, WEEK, execution_id, [csv_bytes(HEADER, SECOND)]
    )
    assert (result.restatement["rows_added"], result.restatement["rows_removed"]) == (1, 1)
    assert result.restatement["rows_changed"] == 1
    assert result.restatement["key_diff_seconds"] > 0
    assert result.restatement == warehouse.get_version(execution_id).restatement
    assert result.seconds > 0  # until the load committed


def test_the_replaced_rows_are_compared_before_the_retention_drops_them(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    second = load(warehouse, SECOND, retention=HistoryRetention(max_age_days=0))
    assert warehouse.get_version(first).state == "dropped"
    assert changes_of(warehouse, second) == (1, 1, 1)
    assert verify(warehouse).ok


def test_a_failed_comparison_leaves_the_week_stored(
    warehouse: Warehouse, caplog, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
):
    caplog.set_level(logging.WARNING, logger="amc_reports.warehouse.loading")
    first = load(warehouse, FIRST)
    refuse_comparisons(warehouse)
    second = load(warehouse, SECOND)

    assert warehouse.count_week_rows(REPORT, WEEK) == {second: 3}
    week = warehouse.get_week(REPORT, WEEK)
    assert week.status == "completed" and week.execution_id == second
    recorded = warehouse.get_version(second).restatement
    assert (recorded["rows_before"], recorded["rows_after"]) == (3, 3)
    assert restatement.incomplete(recorded) and recorded["sums"] is None  # not compared
    assert changes_of(warehouse, second) == (None, None, None)
    [warning] = [r for r in caplog.records if "comparing the versions" in r.getMessage()]
    assert "comparison refused by the test" in warning.getMessage()
    assert "the week's rows are stored" in warning.getMessage()

    # The check judges the restatement completed now: +25 % on impressions, beyond 1 %.
    outcome = quality.restatement_within_tolerance(warehouse, WeekKey(REPORT, "us", WEEK), 0.01)
    assert not outcome.passed and outcome.metadata["largest_change_pct"] == 25.0
    assert "changed by more than 1 %" in outcome.description

    # `history --diff` of the two compares them now.
    point_cli_at(warehouse, monkeypatch, tmp_path, REPORT)
    capsys.readouterr()
    assert main(["history", REPORT, WEEK.isoformat(), "--diff", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "(recorded at the load; compared now)" in out
    assert "1 added, 1 removed, 1 changed" in out
    assert "impressions: 600 -> 750 (+25.000 %)" in out
    # Reading changes nothing.
    assert warehouse.get_version(second).restatement == recorded
    assert warehouse.get_version(first).sums == {}


def test_a_first_collection_is_summed_by_the_re_collection_after_its_commit(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
):
    first = load(warehouse, FIRST)
    assert warehouse.get_version(first).sums == {}  # nothing to compare it with: not summed
    point_cli_at(warehouse, monkeypatch, tmp_path, REPORT)
    capsys.readouterr()
    assert main(["history", REPORT, WEEK.isoformat()]) == 0
    assert "sums: measured when the week is collected again" in capsys.readouterr().out
    second = load(warehouse, SECOND)
    old, new = warehouse.get_version(first), warehouse.get_version(second)
    assert old.sums == {"impressions": 600, "spend": pytest.approx(7.5)}
    assert new.sums == {"impressions": 750, "spend": pytest.approx(8.5)}
    recorded = new.restatement
    assert not restatement.incomplete(recorded)
    assert recorded["sums"]["impressions"] == {
        "before": 600,
        "after": 750,
        "relative_change": pytest.approx(0.25),
    }
    # The next re-collection reads the sums recorded with the version it replaces.
    third = load(warehouse, FIRST)
    assert warehouse.get_version(third).restatement["sums"]["impressions"]["before"] == 750
    assert warehouse.get_version(third).sums == old.sums


def test_a_comparison_whose_connection_is_cut_is_run_again(warehouse: Warehouse):
    load(warehouse, FIRST)
    with warehouse.connect() as conn:
        conn.execute("CREATE SEQUENCE test_cuts")
        conn.execute(
            "CREATE FUNCTION test_cut_once() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF nextval('test_cuts') = 1 THEN"
            " PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$"
        )
        conn.execute(ON_COMPARISON.format("test_cut_once"))
    second = load(warehouse, SECOND)

    with warehouse.connect() as conn:
        assert conn.execute("SELECT last_value FROM test_cuts").fetchone()[0] == 2
    assert changes_of(warehouse, second) == (1, 1, 1)


def test_a_restatement_that_cannot_be_completed_is_not_judged(warehouse: Warehouse):
    first = load(warehouse, FIRST)
    refuse_comparisons(warehouse)
    load(warehouse, SECOND)
    old = warehouse.get_version(first)
    with warehouse.connect() as conn:  # the replaced rows are gone
        conn.execute(
            sql.SQL("DROP TABLE {}").format(sql.Identifier(old.table_schema, old.table_name))
        )
    outcome = quality.restatement_within_tolerance(warehouse, WeekKey(REPORT, "us", WEEK), 0.5)
    assert not outcome.passed  # neither passed by its row count nor judged by sums it lacks
    assert "not compared" in outcome.description and "rows are gone" in outcome.description
