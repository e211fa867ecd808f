"""The transitions of issue 11 on real Postgres: untracked and lost executions, adoption, failure
kinds, fencing (a run whose claim was taken over cannot commit its load) and circuit breakers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amc_reports.warehouse import ClaimLost, FailureKind, Warehouse, WeekKey
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    WEEK,
    csv_bytes,
    new_execution,
    replace_week_results,
)
from amc_reports_tests.warehouse_tests.test_week_life import resumable

REPORT = "weekly_campaign"
KEY = WeekKey(REPORT, INSTANCE, WEEK)


def test_untracked_executions_are_offered_for_adoption_until_adopted_or_lost(warehouse):
    life = warehouse.life
    life.claim(KEY, run_id="run-1")
    first = new_execution(warehouse)
    life.mark_untracked(first, "AMC accepted the execution but returned no execution id")
    second = new_execution(warehouse)
    life.mark_untracked(second, "the connection broke after sending")
    other_instance = new_execution(warehouse)
    life.mark_untracked(other_instance, "x")
    with warehouse.connect() as conn:  # a row of another AMC instance (the report moved)
        conn.execute(
            "UPDATE workflow_executions SET amc_instance_id = 'amcmoved01' WHERE id = %s",
            (other_instance,),
        )

    offered = life.untracked_executions(KEY, "sha-1", amc_instance_id="amcinstance1")
    assert [e.id for e in offered] == [second, first]  # newest first
    assert all(e.status == "UNTRACKED" and e.failure_kind == "untracked" for e in offered)
    # Untracked executions are never resumed: they have no AMC id to poll.
    assert resumable(life, KEY, "sha-1") is None

    life.adopt(second, "amc-found", submitted_at=datetime.now(UTC), status="RUNNING")
    life.mark_lost(first, "AMC does not list it")
    assert life.untracked_executions(KEY, "sha-1", amc_instance_id="amcinstance1") == []
    adopted = warehouse.get_execution(second)
    assert (adopted.status, adopted.amc_execution_id, adopted.failure_kind) == (
        "RUNNING",
        "amc-found",
        None,
    )
    assert warehouse.get_week(REPORT, WEEK).amc_execution_id == "amc-found"
    assert resumable(life, KEY, "sha-1").id == second
    lost = warehouse.get_execution(first)
    assert (lost.status, lost.failure_reason, lost.failure_kind) == (
        "LOST",
        "AMC does not list it",
        "lost",
    )


def test_a_lost_execution_is_not_resumed(warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-gone", status="RUNNING")
    warehouse.life.mark_lost(execution_id, "AMC answered HTTP 404")
    assert resumable(warehouse.life, KEY, "sha-1") is None


def test_a_run_whose_claim_was_taken_over_cannot_commit_its_load(warehouse: Warehouse):
    life = warehouse.life
    life.claim(KEY, run_id="run-A")
    execution_id = new_execution(warehouse, amc_execution_id="amc-1", status="SUCCEEDED")
    life.take_over(KEY, run_id="run-B", from_run_id="run-A")

    with pytest.raises(ClaimLost, match="run-B"):
        replace_week_results(
            warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a"], [[1], [2]])], run_id="run-A"
        )
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.status, week.dagster_run_id) == ("running", "run-B")
    assert warehouse.count_week_rows(REPORT, WEEK) == {}
    assert warehouse.get_version(execution_id) is None
    assert not warehouse.get_execution(execution_id).is_loaded

    # Nor can it fail the week under the new holder's feet ...
    assert (
        life.fail(
            KEY, execution_id=execution_id, amc_execution_id=None, message="x", run_id="run-A"
        )
        is None
    )
    assert life.release(KEY, "stopped", run_id="run-A") is None
    assert warehouse.get_week(REPORT, WEEK).status == "running"
    # ... while the holder loads it.
    replace_week_results(
        warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a"], [[1], [2]])], run_id="run-B"
    )
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.status, week.record_count, week.failure_kind) == ("completed", 2, None)


def test_failure_kinds_are_on_both_rows_and_cleared_by_the_next_claim(warehouse):
    life = warehouse.life
    life.claim(KEY, run_id="run-1")
    execution_id = new_execution(warehouse, amc_execution_id="amc-1", status="RUNNING")
    week = life.fail(
        KEY,
        execution_id=execution_id,
        amc_execution_id=None,
        message="AMC execution ended FAILED: Column 'x' does not exist",
        execution_status=None,
        failure_kind=FailureKind.QUERY_ERROR,
        run_id="run-1",
    )
    assert week.failure_kind is FailureKind.QUERY_ERROR
    assert warehouse.get_execution(execution_id).failure_kind == "query_error"
    assert life.claim(KEY, run_id="run-2").week.failure_kind is None


def test_settle_fails_a_week_only_while_no_live_run_has_it(warehouse):
    life = warehouse.life
    life.claim(KEY, run_id="dead-run")
    execution_id = new_execution(warehouse, amc_execution_id="amc-1", status="FAILED")
    settled = life.settle(
        KEY,
        execution_id=execution_id,
        holder_run_id="dead-run",
        message="AMC failed it",
        failure_kind=FailureKind.TRANSIENT,
    )
    assert (settled.status, settled.failure_kind) == ("failed", "transient")
    life.claim(KEY, run_id="new-run")  # a new run has the week now: the reconciler keeps out
    assert (
        life.settle(
            KEY,
            execution_id=execution_id,
            holder_run_id="dead-run",
            message="again",
            failure_kind=FailureKind.TRANSIENT,
        )
        is None
    )
    assert warehouse.get_week(REPORT, WEEK).dagster_run_id == "new-run"


def test_three_query_errors_in_a_row_trip_the_breaker_and_a_success_resets_the_streak(warehouse):
    breakers = warehouse.breakers
    weeks = [WeekKey(REPORT, INSTANCE, WEEK + timedelta(weeks=n)) for n in range(5)]

    def fail(key: WeekKey, backfill: str = "bf-1"):
        return breakers.record_query_error(
            backfill,
            key,
            message=f"{key.week_start} broke",
            execution_id=None,
            amc_execution_id=f"amc-{key.week_start}",
        )

    fail(weeks[0])
    fail(weeks[1])
    breakers.record_success("bf-1", weeks[2])  # not consecutive any more
    assert breakers.state("bf-1", REPORT, INSTANCE).consecutive_failures == 0
    fail(weeks[3])
    fail(weeks[4])
    assert breakers.tripped("bf-1", REPORT, INSTANCE) is None
    state = fail(weeks[1])
    assert state.tripped and state.consecutive_failures == 3
    assert state.first_week_start_date == weeks[3].week_start  # the streak's first failure
    assert f"{weeks[3].week_start} broke" in state.describe_first_failure()
    breakers.record_success("bf-1", weeks[0])  # once tripped, it stays tripped
    assert breakers.tripped("bf-1", REPORT, INSTANCE) is not None
    # Other backfills, instances and reports have breakers of their own.
    assert breakers.tripped("bf-2", REPORT, INSTANCE) is None
    assert breakers.tripped("bf-1", REPORT, "eu") is None
    assert breakers.tripped("bf-1", "other_report", INSTANCE) is None
