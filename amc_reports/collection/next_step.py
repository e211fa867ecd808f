"""What to do next about a week's AMC execution: the one decision (pure, no I/O).

Two drivers carry out its answer: the collector in the run (`collection/week.py`) and the
reconciler in the sensor (`collection/reconcile.py`). Each tells it the week's row, the
execution's row, what AMC said about that execution (its record, a 404, an error, or nothing
yet: the start of an attempt), the attempt the execution belongs to and the report's policy; it
answers one of:

    Resume   pick the execution up again (AMC still works on it, or it succeeded unloaded)
    Adopt    AMC may have created it without naming it: look for it in AMC's list
    Submit   submit a new execution (why: none yet, the last one ended, or it was given up)
    Wait     AMC still works on it: ask again after `delay` seconds
    Load     AMC succeeded: load its result
    Retry    a failure on AMC's side with attempts left: submit again after `delay`
    Fail     the week fails (`kind`, `message`)
    Leave    nothing to do here now (AMC unreachable, the query changed, or loaded already)

One table says what is retried (`RETRIED`), one backoff how long to wait (`CollectionPolicy.delay`),
one budget how often: the report's `max_attempts` counts every failure on AMC's side (an
internal error or timeout, REJECTED, an execution AMC lost, a create AMC kept failing). A query
error is never retried. A result that fails to load `max_load_failures` times is given up: the
next attempt submits a new execution. The texts people read about these decisions live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from amc_reports.amc import ExecutionRecord, ExecutionStatus
from amc_reports.collection.failures import Classified, classify_reason
from amc_reports.collection.policies import CollectionPolicy
from amc_reports.warehouse import ExecutionRow, ExecutionState, FailureKind, WeekRow, WeekStatus
from amc_reports.warehouse.rows import IN_FLIGHT

# What is submitted again while attempts are left, and whether after the backoff or at once (an
# execution AMC lost: nothing of it was paid twice, AMC dropped it).
RETRIED = MappingProxyType(
    {
        FailureKind.TRANSIENT: "backoff",
        FailureKind.REJECTED: "backoff",
        FailureKind.LOST: "at once",
        FailureKind.UNTRACKED: "backoff",
    }
)


# -- what AMC said ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotAsked:
    """Nothing yet: an attempt starts (AMC is asked once the execution is picked)."""


@dataclass(frozen=True)
class Answered:
    record: ExecutionRecord


@dataclass(frozen=True)
class NotFound:
    """AMC answered HTTP 404 for the execution."""

    message: str


@dataclass(frozen=True)
class Unreachable:
    """AMC could not be asked (network, an error status other than 404, refused credentials);
    `kind` is the failure classifier's (`failures.classify_contact_error`)."""

    error: str
    kind: FailureKind = FailureKind.TRANSIENT


@dataclass(frozen=True)
class CreateFailed:
    """AMC did not accept a create; `classified` by the failure classifier."""

    error: str
    classified: Classified


@dataclass(frozen=True)
class NotListed:
    """AMC may have created an execution without naming it, and does not list it."""

    what: str


AmcSaid = NotAsked | Answered | NotFound | Unreachable | CreateFailed | NotListed


# -- the answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Because:
    """An answer that says why it was given (for the log and the texts people read)."""

    why: str


class Resume(_Because):
    pass


class Adopt(_Because):
    pass


class Submit(_Because):
    pass


@dataclass(frozen=True)
class Wait:
    delay: float


@dataclass(frozen=True)
class Load:
    pass


@dataclass(frozen=True)
class Retry:
    delay: float
    why: str
    kind: FailureKind


@dataclass(frozen=True)
class Fail:
    kind: FailureKind
    message: str  # the reason, for the week's message (after "… failed (ids): ")
    reason: str | None = None  # AMC's own reason, for the execution's row
    status: ExecutionState | None = None  # the execution's final state, if AMC ended it


class Leave(_Because):
    pass


NextStep = Resume | Adopt | Submit | Wait | Load | Retry | Fail | Leave


# -- the situation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """What the decision looks at (`of` builds it from the rows)."""

    said: AmcSaid
    state: ExecutionState | None = None  # the execution's stored state; None: no execution
    loaded: bool = False  # its result is stored
    attempt: int = 1  # the attempt the execution belongs to (or, none yet, the one starting)
    load_failures: int = 0  # loads of its result that failed
    query_changed: bool = False  # the report's query or AMC instance changed since it was sent
    week: WeekStatus | None = None
    new_execution: bool = False  # someone asked for a new execution of the week
    waited_seconds: float = 0.0  # how long this attempt has waited for AMC

    @classmethod
    def of(
        cls,
        said: AmcSaid,
        week: WeekRow | None,
        execution: ExecutionRow | None,
        *,
        attempt: int | None = None,
        query_changed: bool = False,
        new_execution: bool = False,
        waited_seconds: float = 0.0,
    ) -> Situation:
        return cls(
            said=said,
            state=execution.status if execution else None,
            loaded=bool(execution and execution.is_loaded),
            attempt=attempt if attempt is not None else (execution.attempt if execution else 1),
            load_failures=execution.load_failures if execution else 0,
            query_changed=query_changed,
            week=week.status if week else None,
            new_execution=new_execution,
            waited_seconds=waited_seconds,
        )


def decide(situation: Situation, policy: CollectionPolicy) -> NextStep:
    """The next step; see the module docstring."""
    said = situation.said
    if isinstance(said, NotAsked):
        return _start(situation, policy)
    if situation.loaded and situation.week is WeekStatus.COMPLETED:
        return Leave("its result is loaded already")
    if isinstance(said, Unreachable):
        return Leave(
            f"lost contact with AMC while waiting for the execution ({said.error}). It may "
            "still be running: the reconciler, or materializing the week again, resumes it (no "
            "new submission)."
        )
    if isinstance(said, NotFound):
        return _failed(
            situation,
            policy,
            FailureKind.LOST,
            f"AMC no longer knows the execution ({said.message}). It is marked lost: the next "
            "attempt submits a new one",
        )
    if isinstance(said, CreateFailed):
        kind = said.classified.kind
        return _failed(situation, policy, kind, f"AMC did not accept the execution: {said.error}")
    if isinstance(said, NotListed):
        return _failed(
            situation,
            policy,
            FailureKind.UNTRACKED,
            f"{said.what}, and AMC's list of executions does not show one for this window and "
            "query. Nothing was submitted again (that could pay twice): the next attempt looks "
            "for it again and adopts it, or submits anew if AMC never created it",
        )
    return _answered(situation, policy, said.record)


def _start(situation: Situation, policy: CollectionPolicy) -> NextStep:
    state = situation.state
    if state is None:
        return Submit("no execution of the week's query yet")
    if state is ExecutionState.UNTRACKED:
        return Adopt("AMC may have created it without naming it")
    if situation.new_execution:
        return Submit("a new execution was asked for")
    if situation.query_changed:
        return Submit("the report's query or AMC instance changed since the last execution")
    if state in IN_FLIGHT:
        return Resume(f"AMC still works on it ({state.value}): no new submission")
    if state is ExecutionState.SUCCEEDED and not situation.loaded:
        if situation.load_failures >= policy.max_load_failures:
            return Submit(
                f"the result of the last execution failed to load {situation.load_failures} "
                "times: a new execution is submitted"
            )
        return Resume("AMC succeeded and its result is not loaded yet: no new submission")
    return Submit(f"the last execution ended {state.value}")


def _answered(situation: Situation, policy: CollectionPolicy, record: ExecutionRecord) -> NextStep:
    if not record.is_terminal:
        return Wait(policy.poll.interval(situation.waited_seconds))
    if record.status is ExecutionStatus.SUCCEEDED:
        if situation.query_changed:
            return Leave(
                "AMC succeeded, but the report's query or AMC instance changed since it was "
                "submitted: not resumed (materialize the week again)"
            )
        if situation.load_failures >= policy.max_load_failures:
            return Leave(
                f"AMC succeeded, but its result failed to load {situation.load_failures} times: "
                "the week's next attempt submits a new execution"
            )
        return Load()
    reason = record.failure_reason or "AMC gave no reason"
    if record.validation_errors:
        reason += " (" + "; ".join(record.validation_errors) + ")"
    if record.status is ExecutionStatus.FAILED:
        classified = classify_reason(record.failure_reason, record.validation_errors)
    elif record.status is ExecutionStatus.REJECTED:
        classified = Classified(
            FailureKind.REJECTED, "too many executions over the same data at once"
        )
    else:
        classified = Classified(FailureKind.CANCELLED, "cancelled at AMC")
    state = ExecutionState.of(record.status)
    step = _failed(
        situation,
        policy,
        classified.kind,
        f"AMC execution ended {state.value}: {reason}",
        why=classified.why,
    )
    if isinstance(step, Fail):
        return Fail(step.kind, step.message, reason=reason, status=state)
    return step


def _failed(
    situation: Situation, policy: CollectionPolicy, kind: FailureKind, what: str, why: str = ""
) -> Retry | Fail:
    """Retried while attempts are left and the failure is on AMC's side; else the week fails."""
    how = RETRIED.get(kind)
    if how is not None and situation.attempt < policy.max_attempts and not situation.query_changed:
        delay = 0.0 if how == "at once" else policy.delay(situation.attempt)
        side = f" (a failure on AMC's side: {why})" if why else ""
        return Retry(delay, f"{what}{side}", kind)
    return Fail(kind, f"{what}. {advice(kind, situation.attempt)}")


def advice(kind: FailureKind, attempts: int) -> str:
    """What to do about a week that failed with `kind`, after `attempts` attempts."""
    if kind in (FailureKind.TRANSIENT, FailureKind.REJECTED):
        return f"AMC failed on its side {attempts} time(s), the report's max_attempts. " + (
            what_to_do(kind)
        )
    return what_to_do(kind)


def what_to_do(kind: FailureKind) -> str:
    """What to do about a week that failed with `kind` (also the advice of its alert)."""
    if kind is FailureKind.QUERY_ERROR:
        return (
            "This is a query error: it is not retried. Fix the report's query (syntax, columns, "
            "resource limits), then materialize the week again."
        )
    if kind in (FailureKind.TRANSIENT, FailureKind.REJECTED):
        return "Materialize the week again later (a new AMC execution is submitted)."
    if kind is FailureKind.CREDENTIALS:
        return (
            "Fix the credential profile's AMC_* variables (a new refresh token if needed), then "
            "materialize the week again; never retried automatically."
        )
    if kind is FailureKind.UNTRACKED:
        return "Materialize the week again later."
    if kind is FailureKind.LOAD:
        return (
            "Materialize the week again: AMC's result is downloaded again (no new AMC execution "
            "until it failed to load several times)."
        )
    return "Materialize the week again (a new AMC execution is submitted)."


def load_failed(load_failures: int, policy: CollectionPolicy, error: object) -> Fail:
    """The result of a succeeded execution could not be stored (`load_failures` times now)."""
    if load_failures >= policy.max_load_failures:
        then = (
            f"It failed to load {load_failures} times: materializing the week again submits a "
            "new AMC execution."
        )
    else:
        then = (
            "Materializing the week again downloads the same result (no new AMC execution; "
            f"after {policy.max_load_failures} failed loads a new one is submitted)."
        )
    return Fail(
        FailureKind.LOAD,
        f"AMC finished, but its result could not be loaded: {str(error).rstrip('.')}. The "
        f"week's previous rows are untouched. {then}",
    )


def failure_message(
    week: str, execution_id: object, amc_execution_id: str | None, what: str
) -> str:
    """The week's error message: which week, which execution, what happened."""
    return (
        f"{week} failed (execution_id {execution_id}, amc_execution_id "
        f"{amc_execution_id or 'none'}): {what}"
    )
