"""The one decision about a week's execution (`collection.next_step`), cell by cell: what AMC
said x the week's state x attempts left x the query changed; and the start of an attempt."""

from __future__ import annotations

import itertools
import random

import pytest

from amc_reports.amc import ExecutionRecord, ExecutionStatus
from amc_reports.amc.retry import Backoff
from amc_reports.collection.failures import Classified
from amc_reports.collection.next_step import (
    RETRIED,
    Adopt,
    Answered,
    CreateFailed,
    Fail,
    Leave,
    Load,
    NotAsked,
    NotFound,
    NotListed,
    Resume,
    Retry,
    Situation,
    Submit,
    Unreachable,
    Wait,
    decide,
    load_failed,
)
from amc_reports.collection.policies import CollectionPolicy
from amc_reports.warehouse import ExecutionState, FailureKind, WeekStatus

POLICY = CollectionPolicy(max_attempts=3, first_delay_seconds=60, max_delay_seconds=900)


def answered(status: str, reason: str | None = None, errors: tuple[str, ...] = ()) -> Answered:
    return Answered(
        ExecutionRecord(
            execution_id="amc-1",
            status=ExecutionStatus(status),
            failure_reason=reason,
            validation_errors=list(errors),
        )
    )


# What AMC can say about an execution, and the kind of failure each is (None: not a failure).
SAID = {
    "PENDING": (answered("PENDING"), None),
    "RUNNING": (answered("RUNNING"), None),
    "PUBLISHING": (answered("PUBLISHING"), None),
    "SUCCEEDED": (answered("SUCCEEDED"), None),
    "FAILED on AMC's side": (
        answered("FAILED", "Query execution failed: internal error"),
        FailureKind.TRANSIENT,
    ),
    "FAILED, a query error": (
        answered("FAILED", "Column 'bogus' does not exist"),
        FailureKind.QUERY_ERROR,
    ),
    "FAILED, validation errors": (
        answered("FAILED", "invalid", ("unknown column x",)),
        FailureKind.QUERY_ERROR,
    ),
    "CANCELLED": (answered("CANCELLED"), FailureKind.CANCELLED),
    "REJECTED": (answered("REJECTED", "too many executions"), FailureKind.REJECTED),
    "404": (NotFound("AMC answered HTTP 404"), FailureKind.LOST),
    "unreachable": (Unreachable("connection refused"), None),
    "create failed on AMC's side": (
        CreateFailed("HTTP 503", Classified(FailureKind.TRANSIENT, "HTTP 503")),
        FailureKind.TRANSIENT,
    ),
    "create refused": (
        CreateFailed("HTTP 400", Classified(FailureKind.QUERY_ERROR, "HTTP 400")),
        FailureKind.QUERY_ERROR,
    ),
    "create not listed": (NotListed("AMC returned no execution id"), FailureKind.UNTRACKED),
}
WEEK_STATES = [WeekStatus.RUNNING, WeekStatus.FAILED, WeekStatus.PENDING]
ATTEMPTS = {"attempts left": 1, "the last attempt": 3}


def expected(said: str, attempt: int, query_changed: bool) -> tuple[type, FailureKind | None]:
    """The table, written out independently of the code: what each cell must decide."""
    _, kind = SAID[said]
    if said in ("PENDING", "RUNNING", "PUBLISHING"):
        return Wait, None
    if said == "SUCCEEDED":
        return (Leave, None) if query_changed else (Load, None)
    if said == "unreachable":
        return Leave, None
    retried = kind in (
        FailureKind.TRANSIENT,
        FailureKind.REJECTED,
        FailureKind.LOST,
        FailureKind.UNTRACKED,
    )
    if retried and attempt < POLICY.max_attempts and not query_changed:
        return Retry, kind
    return Fail, kind


CELLS = list(itertools.product(SAID, WEEK_STATES, ATTEMPTS, [False, True]))


@pytest.mark.parametrize(("said", "week", "attempts", "query_changed"), CELLS)
def test_every_cell_decides_as_the_table_says(said, week, attempts, query_changed):
    attempt = ATTEMPTS[attempts]
    situation = Situation(
        said=SAID[said][0],
        state=ExecutionState.RUNNING,
        attempt=attempt,
        query_changed=query_changed,
        week=week,
    )
    step = decide(situation, POLICY)
    kind_wanted = expected(said, attempt, query_changed)
    assert (type(step), getattr(step, "kind", None)) == kind_wanted
    if isinstance(step, Retry):
        wanted_delay = 0.0 if step.kind is FailureKind.LOST else POLICY.delay(attempt)
        assert step.delay == wanted_delay
    if isinstance(step, Fail) and step.kind is FailureKind.QUERY_ERROR:
        assert "not retried" in step.message and "Fix the report's query" in step.message
    if isinstance(step, Fail) and step.kind in (FailureKind.TRANSIENT, FailureKind.REJECTED):
        assert f"{attempt} time(s)" in step.message


def test_every_kind_the_table_retries_is_a_failure_on_amcs_side():
    assert set(RETRIED) == {
        FailureKind.TRANSIENT,
        FailureKind.REJECTED,
        FailureKind.LOST,
        FailureKind.UNTRACKED,
    }


def test_a_failure_amc_ended_keeps_amcs_reason_and_status_for_the_execution():
    said = answered("FAILED", "Column 'bogus' does not exist")
    step = decide(Situation(said=said, attempt=1), POLICY)
    assert isinstance(step, Fail)
    assert (step.status, step.reason) == (ExecutionState.FAILED, "Column 'bogus' does not exist")


def test_waiting_asks_again_sooner_early_and_later_late():
    early = decide(Situation(said=answered("RUNNING"), waited_seconds=0), POLICY)
    late = decide(Situation(said=answered("RUNNING"), waited_seconds=7200), POLICY)
    assert isinstance(early, Wait) and isinstance(late, Wait) and early.delay < late.delay


def test_a_week_completed_on_its_loaded_execution_is_left_alone():
    situation = Situation(said=answered("SUCCEEDED"), loaded=True, week=WeekStatus.COMPLETED)
    assert isinstance(decide(situation, POLICY), Leave)


# -- the start of an attempt ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "loaded", "load_failures", "new_execution", "query_changed", "wanted"),
    [
        (None, False, 0, False, False, Submit),
        (ExecutionState.UNTRACKED, False, 0, False, False, Adopt),
        (ExecutionState.UNTRACKED, False, 0, True, False, Adopt),  # it may be paid for already
        (ExecutionState.PENDING, False, 0, False, False, Resume),
        (ExecutionState.RUNNING, False, 0, False, False, Resume),
        (ExecutionState.PUBLISHING, False, 0, False, False, Resume),
        (ExecutionState.RUNNING, False, 0, False, True, Submit),
        (ExecutionState.RUNNING, False, 0, True, False, Submit),
        (ExecutionState.SUCCEEDED, False, 0, False, False, Resume),
        (ExecutionState.SUCCEEDED, False, 2, False, False, Resume),
        (ExecutionState.SUCCEEDED, False, 3, False, False, Submit),
        (ExecutionState.SUCCEEDED, False, 0, True, False, Submit),
        (ExecutionState.SUCCEEDED, True, 0, False, False, Submit),
        (ExecutionState.FAILED, False, 0, False, False, Submit),
        (ExecutionState.CANCELLED, False, 0, False, False, Submit),
        (ExecutionState.REJECTED, False, 0, False, False, Submit),
        (ExecutionState.LOST, False, 0, False, False, Submit),
        (ExecutionState.SUBMIT_FAILED, False, 0, False, False, Submit),
    ],
)
def test_an_attempt_starts_by_resuming_adopting_or_submitting(
    state, loaded, load_failures, new_execution, query_changed, wanted
):
    situation = Situation(
        said=NotAsked(),
        state=state,
        loaded=loaded,
        load_failures=load_failures,
        new_execution=new_execution,
        query_changed=query_changed,
    )
    assert type(decide(situation, POLICY)) is wanted


def test_a_result_that_failed_to_load_too_often_is_not_loaded_again_by_anyone():
    said = answered("SUCCEEDED")
    assert isinstance(decide(Situation(said=said, load_failures=2), POLICY), Load)
    step = decide(Situation(said=said, load_failures=3), POLICY)
    assert isinstance(step, Leave) and "submits a new execution" in step.why
    start = decide(
        Situation(said=NotAsked(), state=ExecutionState.SUCCEEDED, load_failures=3), POLICY
    )
    assert isinstance(start, Submit) and "failed to load 3 times" in start.why


def test_a_failed_load_says_whether_the_next_attempt_loads_again_or_submits_anew():
    again = load_failed(1, POLICY, "the result file is empty")
    anew = load_failed(3, POLICY, "the result file is empty")
    assert again.kind is anew.kind is FailureKind.LOAD
    assert "downloads the same result" in again.message and "empty" in again.message
    assert "submits a new AMC execution" in anew.message


# -- the one backoff -----------------------------------------------------------------------------


def test_the_backoff_doubles_up_to_its_cap():
    assert [POLICY.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [60, 120, 240, 480, 900, 900]


def test_the_amc_clients_backoff_draws_below_the_same_curve():
    backoff = Backoff(base_seconds=0.5, max_seconds=30)
    curve = CollectionPolicy(first_delay_seconds=0.5, max_delay_seconds=30)
    rng = random.Random(7)
    for attempt in range(1, 12):
        draws = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(0 <= d <= curve.delay(attempt) for d in draws)
        assert max(draws) > curve.delay(attempt) / 2  # full jitter spans the range
