import pytest

from amc_reports.collection import (
    CollectionPolicy,
    PollPolicy,
    max_run_seconds,
)
from amc_reports.orchestration.assets import collection_type


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0, 1.0), (5, 1.0), (60, 6.0), (200, 20.0), (7200, 30.0)],
)
def test_poll_interval_grows_with_the_wait_between_bounds(elapsed, expected):
    assert PollPolicy().interval(elapsed) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"dagster/backfill": "abc"}, ("backfill", "abc")),  # CollectionType compares as str
        ({"dagster/schedule_name": "weekly"}, ("scheduled", None)),
        ({}, ("manual", None)),
    ],
)
def test_collection_type_from_run_tags(tags, expected):
    assert collection_type(tags) == expected


def test_failures_on_amcs_side_back_off_exponentially_up_to_a_cap():
    policy = CollectionPolicy(first_delay_seconds=60, backoff_factor=2, max_delay_seconds=200)
    assert [policy.delay(n) for n in (1, 2, 3)] == [60, 120, 200]


def test_an_execution_is_waited_for_past_amcs_own_timeout_not_forever():
    assert PollPolicy().wait_limit(None) > 21600  # AMC's default execution timeout
    assert PollPolicy().wait_limit(3600) > 3600
    assert PollPolicy(max_wait_seconds=5).wait_limit(3600) == 5


def test_the_maximum_run_time_covers_every_attempt():
    one = max_run_seconds(3600, 1)
    three = max_run_seconds(3600, 3)
    assert one > 3600 and three > 3 * 3600 and three > one
    assert max_run_seconds(None, 1) > 21600
