"""Which weeks of a run that ended get a check run (pure rules of the amc_weekly_checks sensor)."""

from __future__ import annotations

import dagster as dg

from amc_reports.orchestration.sensors.weekly_checks import (
    CHECKS_AFTER_TAG,
    weeks_to_check,
)

REPORT = dg.AssetKey(["amc", "us", "weekly_perf"])
OTHER = dg.AssetKey(["elsewhere"])
CHECKS = {REPORT: [dg.AssetCheckKey(REPORT, "lineage_complete")]}


def test_each_materialized_week_of_a_checked_asset_is_checked_once():
    wanted = weeks_to_check(
        "run-1",
        materialized=[
            (REPORT, "2026-03-08"),
            (REPORT, "2026-03-01"),
            (REPORT, "2026-03-01"),  # twice in the run (a retried step): one check run
            (OTHER, "2026-03-01"),  # an asset without weekly checks
            (REPORT, None),  # not a week
        ],
        checked=[],
        checked_assets=CHECKS,
    )
    assert [(w.asset_key, w.week) for w in wanted] == [
        (REPORT, "2026-03-01"),
        (REPORT, "2026-03-08"),
    ]
    request = wanted[0].run_request("amc_weekly_checks_1", CHECKS[REPORT])
    assert request.asset_selection == [] and request.asset_check_keys == CHECKS[REPORT]
    assert request.job_name == "amc_weekly_checks_1"
    assert request.partition_key == "2026-03-01"
    assert request.tags[CHECKS_AFTER_TAG] == "run-1"
    assert request.run_key == "checks:run-1:amc/us/weekly_perf:2026-03-01"


def test_a_week_its_run_already_checked_is_not_checked_again():
    wanted = weeks_to_check(
        "run-1",
        materialized=[(REPORT, "2026-03-01"), (REPORT, "2026-03-08")],
        checked=[(REPORT, "2026-03-01")],
        checked_assets=CHECKS,
    )
    assert [w.week for w in wanted] == ["2026-03-08"]
