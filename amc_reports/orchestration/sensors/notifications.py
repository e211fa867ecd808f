"""The notification sensor: reads the runs that finished since its last tick and hands their facts
to `amc_reports.notify`, which decides what deserves a message and sends it.

A failed collection run, a tripped circuit breaker, a failing freshness check (a stale report)
and an ERROR check all end a run; the sensor follows run failures and successes through
Dagster's run-status cursors (`ended_runs`), so each run is looked at once, and keeps the keys of
what it sent beside them (a stale report is told once per missing week). With no notification
URL configured it only keeps its cursor current (nothing old is sent when notifications are
turned on) and says how to turn them on.

A failed run is held before its alerts are decided: for the notifier's `heal_wait_seconds` after
it ended (10 minutes: the reconciler's grace, its tick and the run it launches), so a week it
heals by then sends nothing; and, in a backfill, until the backfill is done, so its failures go
out as one digest grouped by failure kind (`notify.backfill_digest`). Held runs are kept in the
cursor.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from amc_reports.config import ReportTarget
from amc_reports.notify import (
    AlertMemory,
    CheckEvaluation,
    FinishedRun,
    StepFailure,
    TargetIndex,
    TargetRef,
    WarehouseWeeks,
    alerts_for_run,
    backfill_digest,
)
from amc_reports.notify.decide import BACKFILL_TAG
from amc_reports.orchestration.checks import FRESHNESS_CHECK
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import NotifierResource, WarehouseResource
from amc_reports.orchestration.sensors.ended_runs import EndedRuns, check_evaluations_of_run

ALERT_SENSOR = "amc_notifications"
CHECK_EVERY_SECONDS = 30
RUNS_PER_TICK = 100
BACKFILL_UNDER_WAY = ("REQUESTED", "CANCELING", "FAILING")  # (Dagster's BulkActionStatus)
FAILURE, SUCCESS = dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS
ENDINGS = (FAILURE, SUCCESS)  # failures first, as a tick reads them
OFF = (
    "Notifications are off: set AMC_REPORTS_NOTIFY_URLS to one or more apprise URLs (Slack, "
    "Teams, e-mail, webhooks) to be told about failed weeks, stale reports and ERROR checks."
)


@dataclass(frozen=True)
class HeldRun:
    """A failed run whose alerts wait: until `ended_at + heal wait`, and the end of its backfill."""

    run_id: str
    ended_at: float
    backfill_id: str | None = None

    def to_json(self) -> list:
        return [self.run_id, self.ended_at, self.backfill_id]

    @classmethod
    def from_json(cls, data: object) -> HeldRun | None:
        if not isinstance(data, list) or len(data) != 3:
            return None
        run_id, ended_at, backfill_id = data
        if not isinstance(run_id, str) or not isinstance(ended_at, int | float):
            return None
        return cls(run_id, float(ended_at), backfill_id if isinstance(backfill_id, str) else None)


@dataclass
class NotificationCursor:
    """Where the sensor stands in the run failures and successes, what it already sent and the
    failed runs it holds."""

    ended: EndedRuns
    memory: AlertMemory = field(default_factory=AlertMemory)
    held: list[HeldRun] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> NotificationCursor | None:
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sent"), list):
            return None
        if "failure" in data:  # written before the cursors were kept by `EndedRuns`
            data = {FAILURE.value: data["failure"], SUCCESS.value: data.get("success"), **data}
        ended = EndedRuns.from_json(data, ENDINGS)
        if ended is None:
            return None
        held = [HeldRun.from_json(item) for item in data.get("held") or []]
        memory = AlertMemory([str(key) for key in data["sent"]])
        return cls(ended, memory, [run for run in held if run is not None])

    def dump(self) -> str:
        return json.dumps(
            {
                **self.ended.to_json(),
                "sent": self.memory.keys,
                "held": [run.to_json() for run in self.held],
            },
            sort_keys=True,
        )


def release(
    instance: dg.DagsterInstance, held: list[HeldRun], now: float, heal_wait_seconds: float
) -> tuple[list[str], dict[str, list[str]], list[HeldRun]]:
    """The held runs whose alerts are due now (alone, and by backfill), and those still held. A
    backfill's runs are due together, once it is done and its last failure's wait is over."""
    alone, by_backfill = [], defaultdict(list)
    for run in held:
        if run.backfill_id:
            by_backfill[run.backfill_id].append(run)
        elif now - run.ended_at >= heal_wait_seconds:
            alone.append(run.run_id)
    due = {}
    for backfill_id, runs in by_backfill.items():
        if max(r.ended_at for r in runs) + heal_wait_seconds <= now and _backfill_done(
            instance, backfill_id
        ):
            due[backfill_id] = [r.run_id for r in runs]
    released = set(alone) | {run_id for ids in due.values() for run_id in ids}
    return alone, due, [run for run in held if run.run_id not in released]


def _backfill_done(instance: dg.DagsterInstance, backfill_id: str) -> bool:
    backfill = instance.get_backfill(backfill_id)
    # A backfill Dagster does not know (deleted, or a tag set by hand) has nothing to wait for.
    return backfill is None or backfill.status.value not in BACKFILL_UNDER_WAY


def target_index(targets: Sequence[ReportTarget]) -> TargetIndex:
    refs = {}
    for report, instance in targets:
        key = report_asset_key(report, instance)
        refs[key] = TargetRef(
            report=report.name,
            instance=instance.alias,
            instance_id=instance.instance_id,
            asset_path=tuple(key.path),
        )
    return TargetIndex(
        by_asset_path={tuple(key.path): ref for key, ref in refs.items()},
        # The op of an asset is named after its key (amc__us__weekly_perf).
        by_step_key={key.to_python_identifier(): ref for key, ref in refs.items()},
        freshness_check=FRESHNESS_CHECK,
    )


def _text(metadata: dict) -> dict[str, str]:
    return {name: str(getattr(value, "value", value)) for name, value in metadata.items()}


def finished_run(instance: dg.DagsterInstance, run_id: str, failed: bool) -> FinishedRun | None:
    """What the notification rules need to know of a run that ended."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    failures = []
    if failed:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            data = event.step_failure_data
            user = data.user_failure_data
            description = (user.description if user else None) or (
                data.error.message if data.error else "the step failed"
            )
            failures.append(
                StepFailure(event.step_key, description, _text(dict(user.metadata)) if user else {})
            )
    checks = [
        CheckEvaluation(
            asset_path=tuple(evaluation.asset_key.path),
            check=evaluation.check_name,
            partition=evaluation.partition,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            description=evaluation.description or "",
            metadata=_text(dict(evaluation.metadata)),
        )
        for evaluation in check_evaluations_of_run(instance, run_id)
    ]
    return FinishedRun(run_id, failed, dict(run.tags), failures, checks)


def build_alert_sensor(
    targets: Sequence[ReportTarget], *, heal_wait_seconds: float | None = None
) -> dg.SensorDefinition:
    """`heal_wait_seconds`: instead of the notifier resource's (tests)."""
    index = target_index(targets)

    @dg.sensor(
        name=ALERT_SENSOR,
        minimum_interval_seconds=CHECK_EVERY_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Tells people (AMC_REPORTS_NOTIFY_URLS: Slack, Teams, e-mail, webhooks) about failed "
            "weeks (not healed by the reconciler; one digest per backfill), a tripped circuit "
            "breaker, stale reports and ERROR checks, with the report, the week, both ids and a "
            "link to the run. Off when no URL is configured."
        ),
    )
    def amc_notifications(
        context: dg.SensorEvaluationContext,
        notifier: NotifierResource,
        warehouse: WarehouseResource,
    ) -> dg.SkipReason:
        instance = context.instance
        cursor = NotificationCursor.parse(context.cursor)
        if cursor is None:  # first tick: start from now, never from the history
            context.update_cursor(NotificationCursor(EndedRuns.from_now(instance, ENDINGS)).dump())
            return dg.SkipReason("Started: runs that end from now on are looked at.")
        ended_runs = cursor.ended.since(instance, RUNS_PER_TICK)
        if not notifier.enabled:
            cursor.held = []
            context.update_cursor(cursor.dump())
            return dg.SkipReason(OFF)

        now = time.time()
        succeeded = []
        for run_id, ending in ended_runs:
            if ending is FAILURE:
                run = instance.get_run_by_id(run_id)
                backfill_id = run.tags.get(BACKFILL_TAG) if run is not None else None
                cursor.held.append(HeldRun(run_id, now, backfill_id))
            else:
                succeeded.append(run_id)
        failed_alone, failed_by_backfill, cursor.held = release(
            instance,
            cursor.held,
            now,
            notifier.heal_wait_seconds if heal_wait_seconds is None else heal_wait_seconds,
        )
        if not (succeeded or failed_alone or failed_by_backfill):
            # (the warehouse stays closed: an idle embedded Postgres may stop)
            context.update_cursor(cursor.dump())
            return dg.SkipReason(
                f"No run ended since the last tick; {len(cursor.held)} failed run(s) held."
                if cursor.held
                else "No run ended since the last tick."
            )
        sender = notifier.get_notifier()
        for problem in sender.problems:
            context.log.error(problem)
        weeks = WarehouseWeeks(warehouse.get_warehouse())

        def alerts_of(run_ids: list[str], failed: bool) -> list:
            alerts = []
            for run_id in run_ids:
                run = finished_run(instance, run_id, failed)
                if run is not None:
                    alerts += alerts_for_run(run, index, weeks)
            return alerts

        due = alerts_of(succeeded, False) + alerts_of(failed_alone, True)
        for backfill_id, run_ids in failed_by_backfill.items():
            due += backfill_digest(backfill_id, alerts_of(run_ids, True))
        sent, undelivered = [], []
        for alert in due:
            if cursor.memory.seen(alert.dedupe_key):
                continue
            delivery = sender.send(alert)
            cursor.memory.remember(alert.dedupe_key)
            summary = f"{alert.kind} {alert.target.report}/{alert.target.instance} {alert.week}"
            if delivery.sent:
                sent.append(summary)
            if delivery.failed:
                undelivered.append(summary)
                context.log.warning(
                    f"{summary}: not delivered to "
                    + "; ".join(f"{t}: {why}" for t, why in delivery.failed.items())
                )
        context.update_cursor(cursor.dump())
        if sent:
            context.log.info(f"sent {len(sent)} notification(s): " + ", ".join(sent))
        looked_at = len(succeeded) + len(failed_alone) + sum(map(len, failed_by_backfill.values()))
        return dg.SkipReason(
            f"Looked at {looked_at} finished run(s); sent {len(sent)} notification(s)"
            + (f", {len(undelivered)} not delivered (see the tick's log)" if undelivered else "")
            + (f"; {len(cursor.held)} failed run(s) held." if cursor.held else ".")
        )

    return amc_notifications
