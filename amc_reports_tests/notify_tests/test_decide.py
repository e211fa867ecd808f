"""Which finished runs are worth a message (pure rules over plain facts)."""

from __future__ import annotations

from amc_reports.notify import (
    AlertKind,
    AlertMemory,
    CheckEvaluation,
    FinishedRun,
    StepFailure,
    TargetIndex,
    WeekState,
    alerts_for_run,
    backfill_digest,
)
from amc_reports.notify.decide import MEMORY_SIZE
from amc_reports_tests.support.alerts import TARGET

STEP = "amc__us__weekly_perf"
INDEX = TargetIndex({TARGET.asset_path: TARGET}, {STEP: TARGET}, "newest_final_week_collected")


class Weeks:
    """A stand-in for the warehouse's rows (the real one is tested with Postgres)."""

    def __init__(self, rows: dict[str, WeekState] | None = None, run_id: str = "run-1"):
        self.rows = rows or {}
        self.run_id = run_id

    def week(self, target, week):
        return self.rows.get(week)

    def failed_by_run(self, target, run_id):
        return [r for r in self.rows.values() if r.status == "failed" and run_id == self.run_id]


def failed_row(week: str) -> WeekState:
    return WeekState(week, "failed", f"exec-{week}", f"amc-{week}", f"AMC said FAILED for {week}")


def run(**changes) -> FinishedRun:
    values = dict(
        run_id="run-1",
        failed=True,
        tags={"dagster/partition": "2026-03-08"},
        step_failures=[StepFailure(STEP, "week 2026-03-08 failed", {})],
        checks=[],
    )
    values.update(changes)
    return FinishedRun(**values)


def test_a_failed_week_is_told_with_its_rows_ids_and_reason():
    [alert] = alerts_for_run(run(), INDEX, Weeks({"2026-03-08": failed_row("2026-03-08")}))
    assert alert.kind is AlertKind.WEEK_FAILED
    assert (alert.week, alert.execution_id, alert.amc_execution_id) == (
        "2026-03-08",
        "exec-2026-03-08",
        "amc-2026-03-08",
    )
    assert alert.reason == "AMC said FAILED for 2026-03-08" and alert.run_id == "run-1"


def test_each_failed_week_of_a_batched_run_is_told():
    rows = {w: failed_row(w) for w in ("2026-03-01", "2026-03-15")}
    tags = {
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": "2026-03-15",
    }
    alerts = alerts_for_run(run(tags=tags), INDEX, Weeks(rows))
    assert sorted(a.week for a in alerts) == ["2026-03-01", "2026-03-15"]


def test_a_run_that_failed_before_claiming_a_week_uses_the_failure_itself():
    failure = StepFailure(
        STEP, "held by run r0; nothing was submitted", {"execution_id": "", "amc_execution_id": ""}
    )
    [alert] = alerts_for_run(run(step_failures=[failure]), INDEX, Weeks())
    assert alert.week == "2026-03-08" and alert.execution_id is None
    assert "held by run r0" in alert.reason


def test_runs_dagster_will_retry_and_other_steps_are_not_told():
    assert alerts_for_run(run(tags={"dagster/will_retry": "true"}), INDEX, Weeks()) == []
    other = run(step_failures=[StepFailure("some_other_op", "boom", {})])
    assert alerts_for_run(other, INDEX, Weeks()) == []
    # A run that succeeded says nothing of its steps.
    assert alerts_for_run(run(failed=False), INDEX, Weeks()) == []


def test_a_circuit_breaker_is_told_once_per_backfill():
    breaker = StepFailure(
        STEP,
        "Circuit breaker: 3 consecutive weeks failed with a query error; first: 2026-03-01",
        {"amc_reports/failure_kind": "circuit_breaker", "execution_id": "e1"},
    )
    memory = AlertMemory()
    sent = []
    for i, week in enumerate(("2026-03-22", "2026-03-29", "2026-04-05")):
        tags = {"dagster/partition": week, "dagster/backfill": "bf1"}
        facts = run(run_id=f"run-{i}", tags=tags, step_failures=[breaker])
        # The week rows failed by the breaker are not told as failed weeks.
        for alert in alerts_for_run(facts, INDEX, Weeks({week: failed_row(week)}, f"run-{i}")):
            assert alert.kind is AlertKind.CIRCUIT_BREAKER
            if not memory.seen(alert.dedupe_key):
                memory.remember(alert.dedupe_key)
                sent.append(alert)
    [alert] = sent
    assert alert.week == "2026-03-22" and "first: 2026-03-01" in alert.reason
    assert alert.execution_id == "e1"


def test_error_checks_and_a_failing_freshness_check_are_told():
    lineage = CheckEvaluation(
        TARGET.asset_path, "lineage_complete", "2026-03-08", False, "ERROR", "Lineage broken", {}
    )
    warn = CheckEvaluation(TARGET.asset_path, "not_empty", "2026-03-08", False, "WARN", "", {})
    passed = CheckEvaluation(
        TARGET.asset_path, "row_counts_consistent", "2026-03-08", True, "ERROR", "", {}
    )
    stale = CheckEvaluation(
        TARGET.asset_path,
        "newest_final_week_collected",
        None,
        False,
        "WARN",
        "Week 2026-11-08 has been final since ... but is missing.",
        {"newest_final_week": "2026-11-08"},
    )
    unknown = CheckEvaluation(("other",), "x", None, False, "ERROR", "", {})
    completed = WeekState("2026-03-08", "completed", "exec-1", "amc-1", None)
    facts = run(failed=False, step_failures=[], checks=[lineage, warn, passed, stale, unknown])
    alerts = alerts_for_run(facts, INDEX, Weeks({"2026-03-08": completed}))
    by_kind = {a.kind: a for a in alerts}
    assert set(by_kind) == {AlertKind.CHECK_ERROR, AlertKind.STALE_REPORT}
    check = by_kind[AlertKind.CHECK_ERROR]
    assert (check.check, check.week, check.execution_id, check.amc_execution_id) == (
        "lineage_complete",
        "2026-03-08",
        "exec-1",
        "amc-1",
    )
    stale_alert = by_kind[AlertKind.STALE_REPORT]
    assert stale_alert.week == "2026-11-08" and stale_alert.execution_id is None
    assert stale_alert.dedupe_key == "stale:amc/us/weekly_perf:2026-11-08"


def test_the_memory_of_what_was_sent_is_bounded():
    memory = AlertMemory()
    for i in range(MEMORY_SIZE + 10):
        memory.remember(f"k{i}")
    memory.remember(None)
    assert len(memory.keys) == MEMORY_SIZE
    assert memory.seen(f"k{MEMORY_SIZE + 9}") and not memory.seen("k0")
    assert not memory.seen(None)


def test_a_failed_weeks_kind_comes_from_its_row():
    row = WeekState("2026-03-08", "failed", "e", "a", "bad column", failure_kind="query_error")
    [alert] = alerts_for_run(run(), INDEX, Weeks({"2026-03-08": row}))
    assert alert.failure_kind == "query_error"


def test_a_week_collected_by_another_run_since_is_not_told():
    healed = WeekState("2026-03-08", "completed", "e2", "a2", None, dagster_run_id="run-2")
    assert alerts_for_run(run(), INDEX, Weeks({"2026-03-08": healed})) == []
    # Collected by this very run (it failed afterwards): still told.
    own = WeekState("2026-03-08", "completed", "e1", "a1", None, dagster_run_id="run-1")
    assert len(alerts_for_run(run(), INDEX, Weeks({"2026-03-08": own}))) == 1


def test_a_backfills_failures_become_one_digest_by_kind():
    rows = {
        w: WeekState(w, "failed", "e", "a", f"bad {w}", failure_kind="query_error")
        for w in ("2026-03-01", "2026-03-08")
    }
    failed = alerts_for_run(run(tags={"dagster/backfill": "bf1"}), INDEX, Weeks(rows))
    breaker = StepFailure(STEP, "breaker open", {"amc_reports/failure_kind": "circuit_breaker"})
    failed += alerts_for_run(run(run_id="run-2", step_failures=[breaker]), INDEX, Weeks())
    checks = [a for a in failed if a.kind is AlertKind.CHECK_ERROR]
    [digest] = backfill_digest("bf1", failed)
    assert digest.kind is AlertKind.BACKFILL_FAILED and digest.backfill_id == "bf1"
    assert [(g.kind, g.weeks) for g in digest.groups] == [
        ("query_error", ("2026-03-01", "2026-03-08")),
        ("circuit_breaker", ("2026-03-08",)),
    ]
    assert digest.groups[0].reason == "bad 2026-03-01" and checks == []
    assert backfill_digest("bf1", []) == []
    # One failure is told as it is, with its ids and run.
    assert backfill_digest("bf1", failed[:1]) == failed[:1]
