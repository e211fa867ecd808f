"""Final and provisional weeks: what is collected before a week is final, and what happens once
it is (a clock of the test's own stands in for the days passing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from amc_reports.collection import WeekNotFinal
from amc_reports.paths import PROJECT_ROOT

WEEK = date(2026, 3, 8)  # ends 2026-03-15 00:00 New York; final 14 days later
FINAL_AT = datetime(2026, 3, 29, 4, tzinfo=UTC)  # 00:00 in New York (EDT)
BEFORE_FINAL = FINAL_AT - timedelta(days=3)
AFTER_FINAL = FINAL_AT + timedelta(hours=1)


def test_a_report_of_final_weeks_only_submits_nothing_for_a_week_not_final(setup_factory):
    setup = setup_factory()  # provisional_weeks: skip (the default)
    with pytest.raises(WeekNotFinal) as refused:
        setup.collector(clock=lambda: BEFORE_FINAL).collect(WEEK, dagster_run_id="run-1")
    assert refused.value.final_at == FINAL_AT
    assert setup.submissions() == []
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert row.status == "skipped" and "not final until" in row.error_message

    outcome = setup.collector(clock=lambda: AFTER_FINAL).collect(WEEK, dagster_run_id="run-2")
    assert not outcome.provisional
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.provisional, row.final_at) == ("completed", False, FINAL_AT)


def test_a_provisional_week_says_so_and_its_final_collection_records_the_change(setup_factory):
    setup = setup_factory("    provisional_weeks: collect\n")
    early = setup.collector(clock=lambda: BEFORE_FINAL).collect(WEEK, dagster_run_id="run-1")
    assert early.provisional and early.final_at == FINAL_AT
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.status, row.provisional) == ("completed", True)
    assert setup.warehouse.get_execution(early.execution_id).provisional
    assert setup.warehouse.provisional_weeks_due(setup.report.name, "test", AFTER_FINAL) == [row]
    assert setup.warehouse.provisional_weeks_due(setup.report.name, "test", BEFORE_FINAL) == []

    # AMC attributed more conversions since: the final collection brings more rows.
    setup.set_faults(rows=30)
    final = setup.collector(clock=lambda: AFTER_FINAL).collect(WEEK, dagster_run_id="run-2")
    assert not final.provisional
    row = setup.warehouse.get_week(setup.report.name, WEEK)
    assert (row.provisional, row.execution_id) == (False, final.execution_id)
    assert setup.warehouse.provisional_weeks_due(setup.report.name, "test", AFTER_FINAL) == []
    version = setup.warehouse.get_version(final.execution_id)
    changes = version.restatement
    assert changes["previous_provisional"] is True
    assert changes["previous_execution_id"] == str(early.execution_id)
    assert (changes["rows_before"], changes["rows_after"]) == (25, 30)
    old = setup.warehouse.get_version(early.execution_id)
    assert (old.state, old.provisional) == ("history", True)


def test_late_conversions_are_a_restatement_of_the_provisional_week(setup_factory):
    """The sandbox runs the example report's SQL; AMC keeps attributing conversions to the week
    until it is final: its final collection restates purchases and sales, not traffic."""
    sql = (PROJECT_ROOT / "reports" / "sql" / "weekly_campaign_performance.sql").read_text()
    block = "".join(f"      {line}\n" for line in sql.splitlines())
    setup = setup_factory("    provisional_weeks: collect\n", sql=f"|\n{block}")
    instance_id = setup.report.instance.instance_id
    week_end = WEEK + timedelta(days=7)

    def as_of(day: date) -> None:
        setup.sandbox.patch_config(
            {
                "instances": {
                    instance_id: {
                        "rows": None,
                        "impressions_per_day": 20_000,
                        "data_as_of": f"{day}T12:00:00Z",
                    }
                }
            }
        )

    as_of(week_end + timedelta(days=1))
    early = setup.collector(clock=lambda: BEFORE_FINAL).collect(WEEK, dagster_run_id="run-1")
    as_of(week_end + timedelta(days=16))
    final = setup.collector(clock=lambda: AFTER_FINAL).collect(WEEK, dagster_run_id="run-2")
    assert early.provisional and not final.provisional

    changes = setup.warehouse.get_version(final.execution_id).restatement
    assert changes["previous_provisional"] is True
    assert changes["rows_before"] == changes["rows_after"] > 0
    sums = changes["sums"]
    assert sums["impressions"]["before"] == sums["impressions"]["after"]  # traffic: complete
    assert sums["clicks"]["relative_change"] == 0
    assert sums["purchases"]["after"] > sums["purchases"]["before"]  # conversions: late
    assert changes["key_columns"] == ["campaign_id", "campaign_name"]
    assert changes["rows_added"] == changes["rows_removed"] == 0
    assert changes["rows_changed"] > 0

    # Collected again, final and unchanged: nothing restated.
    again = setup.collector(clock=lambda: AFTER_FINAL).collect(WEEK, dagster_run_id="run-3")
    unchanged = setup.warehouse.get_version(again.execution_id).restatement
    assert unchanged["rows_changed"] == 0 and unchanged["previous_provisional"] is False
    assert all(v["relative_change"] == 0 for v in unchanged["sums"].values())
