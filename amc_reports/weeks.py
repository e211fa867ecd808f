"""Week arithmetic shared by partitions, collection and schedules (pure, no Dagster)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

AMC_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"
DAYS_PER_WEEK = 7


def week_end_of(week_start: date) -> date:
    """The last day (inclusive) of the week starting `week_start`."""
    return week_start + timedelta(days=DAYS_PER_WEEK - 1)


@dataclass(frozen=True)
class WeekWindow:
    """The AMC time window of one week: [start 00:00, start + 7 days 00:00) in the report's zone."""

    week_start: date
    time_zone: str

    @property
    def week_end(self) -> date:
        """The last day of the week (inclusive), as stored in `report_data_weeks.week_end_date`."""
        return week_end_of(self.week_start)

    @property
    def amc_start(self) -> str:
        return datetime.combine(self.week_start, datetime.min.time()).strftime(AMC_TIMESTAMP)

    @property
    def amc_end(self) -> str:
        end = self.week_start + timedelta(days=7)
        return datetime.combine(end, datetime.min.time()).strftime(AMC_TIMESTAMP)

    @property
    def partition_key(self) -> str:
        return self.week_start.isoformat()

    def final_at(self, lag_days: int) -> datetime:
        """When this week's data is final: its end plus the attribution lag, in its zone."""
        end = datetime.combine(self.week_start + timedelta(days=7 + lag_days), datetime.min.time())
        return end.replace(tzinfo=ZoneInfo(self.time_zone))


def week_start_of(day: date, week_start_weekday: int) -> date:
    """The first day of the week holding `day` (weekday numbers as `date.weekday()`)."""
    return day - timedelta(days=(day.weekday() - week_start_weekday) % 7)


def newest_final_week(
    now: datetime, *, week_start_weekday: int, time_zone: str, lag_days: int
) -> date:
    """The newest week whose end plus `lag_days` has passed at `now`, in `time_zone`.

    A week [W, W+7d) is final once local time reaches W + 7 + lag days at 00:00.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    latest_possible_start = (local - timedelta(days=lag_days)).date() - timedelta(days=7)
    return week_start_of(latest_possible_start, week_start_weekday)


def hidden_weeks(lag_days: int, collects_provisional: bool) -> int:
    """How many of the newest completed weeks are not offered for collection.

    A report that collects final weeks only offers a week once it is final: `lag_days` rounded up
    to whole weeks after it ends (a lag of 10 days offers the week 14 days after it ends, never
    before it is final). A report that collects provisional weeks offers every completed week.
    """
    return 0 if collects_provisional else math.ceil(lag_days / DAYS_PER_WEEK)


def newest_offered_week(
    now: datetime,
    *,
    week_start_weekday: int,
    time_zone: str,
    lag_days: int,
    collects_provisional: bool,
) -> date:
    """The newest week a report offers for collection at `now` (its newest partition)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    newest_completed = week_start_of(local.date(), week_start_weekday) - timedelta(
        days=DAYS_PER_WEEK
    )
    return newest_completed - timedelta(
        days=DAYS_PER_WEEK * hidden_weeks(lag_days, collects_provisional)
    )
