"""The reconciler: weeks and AMC executions that nobody watches any more, healed (no Dagster).

A run can end without finishing its week: its worker killed mid-poll, Postgres gone in the middle
of a load, contact with AMC lost. The week is then left `running` for a run that has ended, or
failed with its AMC execution still in flight (or finished at AMC, never loaded). `reconcile`
finds those, asks AMC about each execution, and carries out what `collection.next_step` decides
(the same decision a run makes):

- AMC SUCCEEDED: the week's run is to be launched (`Action.launch`); it resumes the execution and
  loads its result, with no new submission.
- AMC FAILED, CANCELLED or REJECTED: the week fails with AMC's reason and the kind of failure.
  A failure on AMC's side (transient, REJECTED) with attempts left (the execution's `attempt`
  below the report's `max_attempts`) also gets the week's run launched (`Action.retry`): the
  next attempt, which submits anew; a query error never does.
- AMC answers 404: the execution is marked lost and the week fails; the next attempt, launched
  likewise while attempts are left, submits anew.
- AMC still works on it: nothing yet (the execution's status is refreshed); looked at again on the
  next tick.
- A week left running by an ended run with no execution in flight: released (failed, with why),
  so it no longer looks busy; it is not re-submitted behind anyone's back.

A week a live run holds, or that a queued or running Dagster run targets, is left alone; so is
one that changed in the last `grace_seconds` (a run may be about to claim it). Each action
carries the line the reconciler's tick log shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from amc_reports.amc import AmcApiError, AmcClient, AmcError
from amc_reports.collection import next_step
from amc_reports.collection.failures import classify_contact_error
from amc_reports.collection.next_step import (
    Answered,
    Fail,
    Leave,
    Load,
    NotFound,
    Retry,
    Situation,
    Unreachable,
    Wait,
    decide,
)
from amc_reports.collection.policies import CollectionPolicy
from amc_reports.config import InstanceConfig, ReportConfig, ReportTarget, resolve_parameters
from amc_reports.warehouse import (
    ExecutionRow,
    ExecutionState,
    FailureKind,
    Warehouse,
    WeekKey,
    WeekRow,
)
from amc_reports.weeks import WeekWindow

_log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 60.0


class Did(StrEnum):
    LAUNCH = "launch"  # AMC succeeded: a run is to resume and load it
    RETRY = "retry"  # AMC failed on its side or lost it, attempts left: a run is to submit anew
    FAILED = "failed"  # AMC failed it: the week failed with AMC's reason
    LOST = "lost"  # AMC does not know it: marked lost, the week failed
    WAITING = "waiting"  # AMC still works on it
    RELEASED = "released"  # left running by an ended run, nothing in flight: released
    UNREACHABLE = "unreachable"  # AMC could not be asked: next tick
    LEFT = "left"  # not resumable as configured now (query or instance changed): left as is


@dataclass(frozen=True)
class Action:
    """What the reconciler did (or asks for) about one week."""

    did: Did
    target: ReportTarget
    key: WeekKey
    message: str  # the tick log's line
    execution_id: str | None = None
    amc_execution_id: str | None = None
    attempt: int | None = None  # a retry: the attempt its run is (the failed one's, plus one)


@dataclass
class Reconciliation:
    actions: list[Action] = field(default_factory=list)

    @property
    def launches(self) -> list[Action]:
        return [action for action in self.actions if action.did in (Did.LAUNCH, Did.RETRY)]

    def summary(self) -> str:
        if not self.actions:
            return (
                "Nothing to reconcile: no week is left running by an ended run, and no AMC "
                "execution is in flight (or finished and unloaded) without a run."
            )
        counts: dict[str, int] = {}
        for action in self.actions:
            counts[action.did.value] = counts.get(action.did.value, 0) + 1
        return "Reconciled: " + ", ".join(f"{n} {did}" for did, n in sorted(counts.items()))

    def report(self) -> str:
        """The summary, then one line per week acted on: what a tick shows."""
        return "\n".join([self.summary(), *(f"- {a.message}" for a in self.actions)])


@dataclass(frozen=True)
class Watchers:
    """What the reconciler must know of the orchestrator (Dagster, in production)."""

    run_is_alive: Callable[[str], bool]
    # Whether a queued or running run targets the (report, instance)'s week.
    week_has_active_run: Callable[[ReportTarget, WeekKey], bool] = lambda target, key: False
    # Whether a run was launched for this execution already (by an earlier tick): it is launched
    # once; if that run could not finish the week, the week's failure says why.
    launched_for: Callable[[str], bool] = lambda execution_id: False


def reconcile(
    targets: Iterable[ReportTarget],
    warehouse: Warehouse,
    amc_for: Callable[[InstanceConfig], AmcClient],
    watchers: Watchers,
    *,
    now: datetime,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> Reconciliation:
    """Look at every (report, instance) of `targets`; see the module docstring."""
    result = Reconciliation()
    clients: dict[str, AmcClient] = {}
    try:
        for target in targets:
            _Target(target, warehouse, clients, amc_for, watchers, now, grace_seconds).run(result)
    finally:
        for client in clients.values():
            client.close()
    return result


class _Target:
    def __init__(
        self,
        target: ReportTarget,
        warehouse: Warehouse,
        clients: dict[str, AmcClient],
        amc_for: Callable[[InstanceConfig], AmcClient],
        watchers: Watchers,
        now: datetime,
        grace_seconds: float,
    ) -> None:
        self.target = target
        self.report: ReportConfig = target.report
        self.instance: InstanceConfig = target.instance
        self.warehouse = warehouse
        self.life = warehouse.life
        self._clients = clients
        self._amc_for = amc_for
        self.watchers = watchers
        self.now = now
        self.grace_seconds = grace_seconds
        self.policy = CollectionPolicy(max_attempts=max(1, self.report.max_attempts))

    @property
    def amc(self) -> AmcClient:
        alias = self.instance.alias
        if alias not in self._clients:
            self._clients[alias] = self._amc_for(self.instance)
        return self._clients[alias]

    def action(
        self,
        did: Did,
        week: WeekRow | ExecutionRow,
        message: str,
        attempt: int | None = None,
        **ids: str,
    ) -> Action:
        key = week.key
        line = f"{key.describe()}: {message}"
        _log.info(line)
        return Action(did, self.target, key, line, attempt=attempt, **ids)

    def run(self, result: Reconciliation) -> None:
        report, alias = self.report.name, self.instance.alias
        handled: set[WeekKey] = set()
        weeks = {row.key: row for row in self.warehouse.list_weeks(report, alias)}
        for execution in self.warehouse.open_executions(report, alias):
            week = weeks.get(execution.key)
            if week is None or week.execution_id != execution.id:
                continue  # not the execution its week works on (superseded): nothing to heal
            handled.add(week.key)
            if self._watched(week):
                continue
            action = self._heal_execution(week, execution)
            if action is not None:
                result.actions.append(action)
        for week in self.warehouse.running_weeks(report, alias):
            if week.key in handled or self._watched(week):
                continue
            message = (
                f"left running by run {week.dagster_run_id}, which has ended, with no AMC "
                "execution in flight: released (materialize the week again to collect it)"
            )
            if self.life.release(
                week.key,
                f"{week.key.describe()} was {message}.",
                failure_kind=FailureKind.INTERRUPTED,
                run_id=week.dagster_run_id,
            ):
                result.actions.append(self.action(Did.RELEASED, week, message))

    def _watched(self, week: WeekRow) -> bool:
        """A live run holds the week, a run is about to take it, or it just changed."""
        if week.holder and self.watchers.run_is_alive(week.holder):
            return True
        if self.watchers.week_has_active_run(self.target, week.key):
            return True
        return (self.now - week.updated_at).total_seconds() < self.grace_seconds

    def _resumable_as_configured(self, execution: ExecutionRow) -> bool:
        window = WeekWindow(week_start=execution.week_start_date, time_zone=self.report.timezone)
        parameters = resolve_parameters(
            self.report, self.instance, window.week_start, window.week_end
        )
        return (
            execution.amc_instance_id == self.instance.instance_id
            and execution.sql_hash == self.report.fingerprint_for(parameters)
        )

    def _heal_execution(self, week: WeekRow, execution: ExecutionRow) -> Action | None:
        """Ask AMC about the week's execution and carry out what `next_step` decides."""
        ids = {
            "execution_id": str(execution.id),
            "amc_execution_id": execution.amc_execution_id or "",
        }
        amc_id = execution.amc_execution_id
        if not amc_id:
            return None
        holder = week.dagster_run_id if week.status == "running" else None
        record = None
        try:
            record = self.amc.get_execution(execution.amc_instance_id, amc_id)
            said: next_step.AmcSaid = Answered(record)
        except AmcError as exc:
            lost = isinstance(exc, AmcApiError) and exc.status_code == 404
            said = (
                NotFound(f"AMC answered HTTP 404 for execution {amc_id}: {exc.amc_message}")
                if isinstance(exc, AmcApiError) and lost
                else Unreachable(str(exc), classify_contact_error(exc).kind)
            )
        if record is not None and ExecutionState.of(record.status) is not execution.status:
            self.life.progress(
                execution.id,
                ExecutionState.of(record.status),
                started_at=record.start_time,
                completed_at=record.end_time if record.is_terminal else None,
                failure_reason=record.failure_reason,
            )
        changed = not self._resumable_as_configured(execution)
        step = decide(Situation.of(said, week, execution, query_changed=changed), self.policy)
        if isinstance(step, Wait):
            return self.action(
                Did.WAITING,
                week,
                f"AMC is still working on execution {amc_id} ({record and record.status.value}) "
                "and no run watches it: its week's run is launched once AMC has finished",
                **ids,
            )
        if isinstance(step, Load):
            if self.watchers.launched_for(str(execution.id)):
                return None  # launched once already: its run's failure is on the week
            return self.action(
                Did.LAUNCH,
                week,
                f"AMC execution {amc_id} SUCCEEDED while no run watched it: launching the week's "
                "run, which resumes and loads it (no new submission)",
                **ids,
            )
        if isinstance(step, Leave):
            if isinstance(said, Unreachable):
                what = f"AMC could not be asked about {amc_id}: {said.error}"
                return self.action(Did.UNREACHABLE, week, what, **ids)
            message = f"AMC execution {amc_id}: {step.why}"
            if holder:
                self.life.release(
                    week.key,
                    f"{week.key.describe()}: {message}.",
                    failure_kind=FailureKind.INTERRUPTED,
                    run_id=holder,
                )
            return self.action(Did.LEFT, week, message, **ids)
        assert isinstance(step, Retry | Fail)
        return self._ended(week, execution, holder, said, step, ids)

    def _ended(
        self,
        week: WeekRow,
        execution: ExecutionRow,
        holder: str | None,
        said: next_step.AmcSaid,
        step: Retry | Fail,
        ids: dict[str, str],
    ) -> Action | None:
        """AMC ended the execution without a result, or lost it: the week fails (unless a run
        has claimed it since); its next attempt is launched if `next_step` retries it."""
        if isinstance(step, Retry):
            what = step.why
            message = f"{what}. Its next attempt is launched (a new AMC execution is submitted)."
        else:
            what = message = step.message
        line = f"AMC execution {execution.amc_execution_id} ({step.kind.value}): {what}"
        if isinstance(said, NotFound):
            self.life.mark_lost(execution.id, said.message)
        elif isinstance(said, Answered):
            state = ExecutionState.of(said.record.status)
            reason = step.reason if isinstance(step, Fail) else what
            self.life.progress(execution.id, state, failure_reason=reason, failure_kind=step.kind)
        settled = self.life.settle(
            week.key,
            execution_id=execution.id,
            holder_run_id=holder,
            message=next_step.failure_message(
                week.key.describe(), execution.id, execution.amc_execution_id, message
            ),
            failure_kind=step.kind,
        )
        if settled is None:
            return None
        if isinstance(step, Retry) and not self.watchers.launched_for(str(execution.id)):
            attempt = execution.attempt + 1
            return self.action(
                Did.RETRY,
                week,
                f"{line}: a failure on AMC's side while no run watched it; launching the week's "
                f"run to submit it again (attempt {attempt} of {self.report.max_attempts})",
                attempt=attempt,
                **ids,
            )
        did = Did.LOST if isinstance(said, NotFound) else Did.FAILED
        return self.action(did, week, f"{line} The week failed.", **ids)
