"""A weekly check over a range of weeks (a backfill batching weeks in one run): one result that
fails when any week fails and names the failing ones."""

from __future__ import annotations

from datetime import date

import dagster as dg

from amc_reports import quality
from amc_reports.orchestration.checks import evaluate_weeks

KEY = dg.AssetCheckKey(dg.AssetKey(["amc", "us", "weekly"]), "row_counts")
WEEKS = [date(2024, 1, 7), date(2024, 1, 14), date(2024, 1, 21)]


def test_a_range_fails_when_one_week_fails_and_names_it():
    def rule(week: date) -> quality.CheckOutcome:
        if week == WEEKS[1]:
            return quality.CheckOutcome(False, "2 rows stored, 3 expected")
        return quality.CheckOutcome(True, "fine")

    result = evaluate_weeks(WEEKS, KEY, rule, dg.AssetCheckSeverity.ERROR)
    assert (result.asset_key, result.check_name) == (KEY.asset_key, KEY.name)
    assert not result.passed and result.severity is dg.AssetCheckSeverity.ERROR
    assert result.description == "1 of 3 weeks fail: 2024-01-14: 2 rows stored, 3 expected"
    counts = {name: value.value for name, value in result.metadata.items()}
    assert counts == {"weeks_checked": 3, "weeks_failing": 1}


def test_a_range_passes_when_every_week_passes_and_one_week_is_its_own_result():
    passing = evaluate_weeks(
        WEEKS, KEY, lambda week: quality.CheckOutcome(True, "fine"), dg.AssetCheckSeverity.WARN
    )
    assert passing.passed and passing.description == "All 3 weeks pass (2024-01-07 to 2024-01-21)."
    single = evaluate_weeks(
        WEEKS[:1],
        KEY,
        lambda week: quality.CheckOutcome(False, f"{week} not collected", {"x": 1}),
        dg.AssetCheckSeverity.WARN,
    )
    assert not single.passed and single.description == "2024-01-07 not collected"
