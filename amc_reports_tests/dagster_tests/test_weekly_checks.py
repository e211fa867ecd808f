"""Checks speak only of what was collected: a failed week is the week's failure, not five failed
checks; each collected week gets its own check results, in a check run of its own."""

from __future__ import annotations

from datetime import date

import dagster as dg

from amc_reports.orchestration.checks import WEEKLY_CHECKS
from amc_reports.orchestration.partitions import weekly_partitions
from amc_reports_tests.support.reports import report_yaml

GOOD, FAILED = "2026-03-01", "2026-03-08"


def check_records(harness) -> list:
    key = dg.AssetKey(["amc", "test", harness.report.name])
    storage = harness.dagster.event_log_storage
    return [
        record
        for name in WEEKLY_CHECKS
        for record in storage.get_asset_check_execution_history(
            dg.AssetCheckKey(key, name), limit=100
        )
    ]


def test_a_failed_week_leaves_no_check_marked_failed(harness):
    assert harness.materialize(GOOD).success
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    failed = harness.materialize(FAILED)
    assert not failed.success  # the week's failure is the run's failure...
    assert harness.warehouse.get_week(harness.report.name, date.fromisoformat(FAILED)).status == (
        "failed"
    )
    # ... and no check was planned in it, so none can show "Execution failed".
    assert failed.get_asset_check_evaluations() == []
    assert not [r for r in check_records(harness) if r.run_id == failed.run_id]

    evaluations = harness.run_weekly_checks()
    # Only the collected week was checked, every check with its week named, and all passed.
    assert set(evaluations) == {(GOOD, name) for name in WEEKLY_CHECKS}
    assert all(e.passed and e.partition == GOOD for e in evaluations.values())
    records = check_records(harness)
    assert {r.partition for r in records} == {GOOD}
    assert {r.status.value for r in records} == {"SUCCEEDED"}

    # Once collected, the week gets its own results, next to the other week's.
    assert harness.materialize(FAILED).success
    again = harness.run_weekly_checks()
    assert set(again) == {(FAILED, name) for name in WEEKLY_CHECKS}
    assert all(e.passed for e in again.values())
    assert {r.partition for r in check_records(harness)} == {GOOD, FAILED}


def test_reports_of_different_weeks_each_get_their_checks(harness_factory):
    """Reports whose partitions differ (here: final weeks only, and provisional weeks too) in one
    code location: the sensor's check runs resolve each week against its own report's weeks."""
    harness = harness_factory(
        report_yaml(name="final_only")
        + report_yaml(name="early")
        + "    provisional_weeks: collect\n"
    )
    final_only, early = (harness.config.reports[name] for name in ("final_only", "early"))
    assert weekly_partitions(final_only) != weekly_partitions(early)
    weeks = {"final_only": GOOD, "early": "2026-03-08"}
    for name, week in weeks.items():
        assert harness.materialize(week, report=name).success

    evaluations = harness.run_weekly_checks()  # by (week, check): one week per report here
    checked = {(e.asset_key.path[-1], e.partition, e.check_name) for e in evaluations.values()}
    assert checked == {(r, week, name) for r, week in weeks.items() for name in WEEKLY_CHECKS}
