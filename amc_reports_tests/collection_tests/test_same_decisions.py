"""The collector (in a run) and the reconciler (in the sensor) decide alike: fed the same AMC
outcome of a week's execution, both drivers get the same answer from `next_step.decide` (the
decisions are recorded on the way; the drivers, the sandbox and PostgreSQL are real)."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, date, datetime

import pytest

from amc_reports.collection import next_step, reconcile, week
from amc_reports.collection.next_step import NotAsked, Wait
from amc_reports.collection.outcome import CollectionError
from amc_reports.collection.reconcile import Watchers
from amc_reports.config import ReportTarget
from amc_reports.warehouse import FailureKind

WEEK = date(2026, 3, 8)

OUTCOMES = {
    "succeeded": ({}, ("Load", None)),
    "failed on AMC's side": ({"fail_next": 1}, ("Retry", FailureKind.TRANSIENT)),
    "a query error": (
        {"fail_next": 1, "failure_reason": "Column 'bogus' does not exist"},
        ("Fail", FailureKind.QUERY_ERROR),
    ),
    "rejected": ({"reject_next": 1}, ("Retry", FailureKind.REJECTED)),
    "lost": ({"lose_next": 1}, ("Retry", FailureKind.LOST)),
}


@pytest.fixture
def decisions(monkeypatch):
    """Every decision either driver asks for: (driver, step)."""
    made: list[tuple[str, object]] = []

    def recording(driver: str):
        def decide(situation, policy):
            step = next_step.decide(situation, policy)
            if not isinstance(situation.said, NotAsked) and not isinstance(step, Wait):
                made.append((driver, step))
            return step

        return decide

    monkeypatch.setattr(week, "decide", recording("collector"))
    monkeypatch.setattr(reconcile, "decide", recording("reconciler"))
    return made


def first(made, driver: str) -> tuple[str, FailureKind | None]:
    step = next(step for who, step in made if who == driver)
    return type(step).__name__, getattr(step, "kind", None)


def until_amc_is_done(setup) -> None:
    deadline = time.monotonic() + 60
    ended = ("SUCCEEDED", "FAILED", "CANCELLED", "REJECTED")
    while time.monotonic() < deadline:
        if all(s["status"] in ended for s in setup.submissions()):
            return
        time.sleep(0.1)
    raise AssertionError("the sandbox did not finish the execution in 60 s")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_collector_and_the_reconciler_decide_alike(setup_factory, decisions, outcome):
    faults, wanted = OUTCOMES[outcome]

    in_a_run = setup_factory()
    in_a_run.set_faults(latency_seconds=0.2, **faults)
    with contextlib.suppress(CollectionError):  # a query error fails the week: its decision counts
        in_a_run.collector().collect(WEEK, dagster_run_id="run-1")

    in_the_sensor = setup_factory()
    in_the_sensor.set_faults(latency_seconds=0.2, **faults)
    in_the_sensor.left_by_a_dead_run(WEEK)
    if "lose_next" not in faults:
        until_amc_is_done(in_the_sensor)
    reconcile.reconcile(
        [ReportTarget(in_the_sensor.report, in_the_sensor.report.instance)],
        in_the_sensor.warehouse,
        lambda _: in_the_sensor.sandbox.client(),
        Watchers(run_is_alive=lambda run_id: False),
        now=datetime.now(UTC),
        grace_seconds=0,
    )

    assert first(decisions, "collector") == wanted
    assert first(decisions, "reconciler") == wanted
