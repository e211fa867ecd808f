from datetime import UTC, date, datetime

import pytest

from amc_reports.weeks import WeekWindow, newest_final_week, week_start_of

SUNDAY, MONDAY = 6, 0


def test_window_is_seven_local_days_without_zone_suffix():
    window = WeekWindow(date(2026, 3, 1), "America/New_York")
    assert window.amc_start == "2026-03-01T00:00:00"
    assert window.amc_end == "2026-03-08T00:00:00"
    assert window.week_end == date(2026, 3, 7)
    assert window.partition_key == "2026-03-01"


def test_final_at_is_end_plus_lag_in_report_zone():
    window = WeekWindow(date(2026, 3, 1), "America/New_York")
    final = window.final_at(14)
    assert final.isoformat() == "2026-03-22T00:00:00-04:00"  # DST began on 2026-03-08


@pytest.mark.parametrize(
    ("day", "weekday", "expected"),
    [
        (date(2026, 11, 29), SUNDAY, date(2026, 11, 29)),  # a Sunday is its own week start
        (date(2026, 11, 28), SUNDAY, date(2026, 11, 22)),
        (date(2026, 11, 29), MONDAY, date(2026, 11, 23)),
        (date(2026, 11, 30), MONDAY, date(2026, 11, 30)),
    ],
)
def test_week_start_of(day, weekday, expected):
    assert week_start_of(day, weekday) == expected


@pytest.mark.parametrize(
    ("now_utc", "weekday", "zone", "lag", "expected"),
    [
        # Sunday weeks, no lag, exactly at the end of week 11-22..11-28 (New York midnight).
        (
            datetime(2026, 11, 29, 5, 0, tzinfo=UTC),
            SUNDAY,
            "America/New_York",
            0,
            date(2026, 11, 22),
        ),
        # One minute earlier in New York the week has not ended yet.
        (
            datetime(2026, 11, 29, 4, 59, tzinfo=UTC),
            SUNDAY,
            "America/New_York",
            0,
            date(2026, 11, 15),
        ),
        # With a 14-day lag the same instant gives the week two weeks earlier.
        (
            datetime(2026, 11, 29, 5, 0, tzinfo=UTC),
            SUNDAY,
            "America/New_York",
            14,
            date(2026, 11, 8),
        ),
        # Monday weeks in Berlin: Monday 00:30 local is already past the end of the previous week.
        (
            datetime(2026, 11, 29, 23, 30, tzinfo=UTC),
            MONDAY,
            "Europe/Berlin",
            0,
            date(2026, 11, 23),
        ),
        (
            datetime(2026, 11, 29, 22, 59, tzinfo=UTC),
            MONDAY,
            "Europe/Berlin",
            0,
            date(2026, 11, 16),
        ),
        # Lag of 7 days on Monday weeks.
        (datetime(2026, 12, 7, 12, 0, tzinfo=UTC), MONDAY, "Europe/Berlin", 7, date(2026, 11, 23)),
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), MONDAY, "Europe/Berlin", 7, date(2026, 11, 16)),
    ],
)
def test_newest_final_week(now_utc, weekday, zone, lag, expected):
    week = newest_final_week(now_utc, week_start_weekday=weekday, time_zone=zone, lag_days=lag)
    assert week == expected
    # And the definition holds: that week is final at `now`, the next one is not.
    assert WeekWindow(week, zone).final_at(lag) <= now_utc
    assert WeekWindow(date.fromordinal(week.toordinal() + 7), zone).final_at(lag) > now_utc


def test_newest_final_week_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        newest_final_week(datetime(2026, 1, 1), week_start_weekday=6, time_zone="UTC", lag_days=0)
