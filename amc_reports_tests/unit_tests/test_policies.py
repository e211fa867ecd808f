import pytest

from amc_reports.collection import PollPolicy, RejectionPolicy
from amc_reports.orchestration.assets import collection_type


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0, 1.0), (5, 1.0), (60, 6.0), (200, 20.0), (7200, 30.0)],
)
def test_poll_interval_grows_with_the_wait_between_bounds(elapsed, expected):
    assert PollPolicy().interval(elapsed) == pytest.approx(expected)


def test_rejections_back_off_exponentially():
    policy = RejectionPolicy(first_delay_seconds=120, backoff_factor=2)
    assert [policy.delay(n) for n in (1, 2, 3)] == [120, 240, 480]


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
