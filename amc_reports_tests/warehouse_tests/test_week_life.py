"""Weeks and executions through their named transitions (`WeekLife`): statuses, ids, the FK,
claims and resumable executions; and collections."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from amc_reports.collection.next_step import NotAsked, Resume, Situation, decide
from amc_reports.collection.policies import CollectionPolicy
from amc_reports.warehouse import ExecutionState, Warehouse, WeekKey, WeekStatus
from amc_reports.warehouse.rows import parse_status
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    WEEK,
    collected_week,
    csv_bytes,
    new_execution,
    replace_week_results,
)

REPORT = "weekly_campaign"
KEY = WeekKey(REPORT, INSTANCE, WEEK)


# -- executions --------------------------------------------------------------------------------


def test_record_and_attach_execution_sets_both_rows_at_once(warehouse: Warehouse):
    execution_id = new_execution(warehouse)
    row = warehouse.get_execution(execution_id)
    assert row is not None
    assert row.status == "CREATED"
    assert row.amc_execution_id is None
    assert row.parameters == {"min_impressions": 10}
    assert row.time_window_start == datetime(2024, 1, 7)
    assert row.time_window_end == datetime(2024, 1, 14)
    assert row.created_at.tzinfo is not None

    warehouse.life.claim(KEY, run_id="run-1")
    submitted = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    warehouse.life.attach(execution_id, "amc-123", submitted_at=submitted)
    row = warehouse.get_execution(execution_id)
    assert (row.amc_execution_id, row.status, row.submitted_at) == ("amc-123", "PENDING", submitted)
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.execution_id, week.amc_execution_id) == (execution_id, "amc-123")
    assert week.status == "running"


def test_amc_execution_id_is_unique(warehouse: Warehouse):
    new_execution(warehouse, amc_execution_id="amc-dup")
    other = new_execution(warehouse)
    with pytest.raises(ValueError, match="already recorded"):
        warehouse.life.attach(other, "amc-dup", submitted_at=datetime.now(UTC))


def test_progress_keeps_unspecified_fields(warehouse: Warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-1")
    started = datetime(2024, 1, 15, 12, 5, tzinfo=UTC)
    warehouse.life.progress(execution_id, "RUNNING", started_at=started)
    warehouse.life.progress(
        execution_id,
        ExecutionState.SUCCEEDED,
        completed_at=started + timedelta(minutes=3),
        data_gaps=[{"dataset": "x", "gap": "2024-01-08"}],
    )
    row = warehouse.get_execution(execution_id)
    assert row.status == "SUCCEEDED"
    assert row.started_at == started
    assert row.completed_at == started + timedelta(minutes=3)
    assert row.data_gaps == [{"dataset": "x", "gap": "2024-01-08"}]
    with pytest.raises(ValueError, match="BOGUS"):
        warehouse.life.progress(execution_id, "BOGUS")
    with pytest.raises(ValueError, match="no workflow_executions row"):
        warehouse.life.progress(uuid.uuid4(), "FAILED")


def test_list_executions_oldest_first(warehouse: Warehouse):
    first = new_execution(warehouse)
    second = new_execution(warehouse)
    new_execution(warehouse, week=WEEK + timedelta(days=7))
    assert [e.id for e in warehouse.list_executions(REPORT, WEEK)] == [first, second]


# -- the week's transitions --------------------------------------------------------------------


def test_resume_names_the_execution_and_complete_keeps_the_start(warehouse: Warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-7")
    row = warehouse.life.resume(KEY, execution_id, run_id="run-1")
    assert row.status == "running"
    assert row.execution_id == execution_id
    assert row.amc_execution_id == "amc-7"  # taken from the execution
    assert row.started_at is not None and row.completed_at is None
    data = csv_bytes(["n"], [[i] for i in range(42)])
    replace_week_results(warehouse, REPORT, WEEK, execution_id, [data])
    done = warehouse.get_week(REPORT, WEEK)
    assert done.status is WeekStatus.COMPLETED
    assert done.completed_at is not None
    assert done.record_count == 42
    assert done.started_at == row.started_at


def test_release_keeps_the_stored_ids(warehouse: Warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-8")
    warehouse.life.resume(KEY, execution_id, run_id="run-1")
    row = warehouse.life.release(KEY, "boom")
    assert row.status == "failed"
    assert (row.execution_id, row.amc_execution_id) == (execution_id, "amc-8")
    assert row.error_message == "boom"
    assert row.completed_at is not None


def test_fail_without_an_amc_id_takes_the_executions_own(warehouse: Warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-9")
    warehouse.life.claim(KEY, run_id="run-1")
    row = warehouse.life.fail(
        KEY,
        execution_id=execution_id,
        amc_execution_id=None,
        message="AMC said no",
        execution_status=ExecutionState.FAILED,
    )
    assert (row.status, row.execution_id, row.amc_execution_id) == (
        "failed",
        execution_id,
        "amc-9",
    )
    execution = warehouse.get_execution(execution_id)
    assert (execution.status, execution.failure_reason) == ("FAILED", "AMC said no")
    assert execution.completed_at is not None


def test_completing_without_an_amc_id_warns(warehouse: Warehouse, caplog: pytest.LogCaptureFixture):
    execution_id = new_execution(warehouse)
    with caplog.at_level(logging.WARNING, logger="amc_reports.warehouse"):
        replace_week_results(warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a"], [[1]])])
    row = warehouse.get_week(REPORT, WEEK)
    assert row.status == "completed" and row.amc_execution_id is None
    assert any("lineage incomplete" in r.getMessage() for r in caplog.records)


def test_statuses_are_enums_that_name_the_allowed_values(warehouse: Warehouse):
    with pytest.raises(ValueError) as info:
        parse_status(WeekStatus, "done", "week")
    message = str(info.value)
    assert "'done'" in message
    for status in WeekStatus:
        assert status.value in message
    with warehouse.connect() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO report_data_weeks (report, amc_instance, week_start_date, week_end_date,"
            " status) VALUES (%s, %s, %s, %s, 'done')",
            (REPORT, INSTANCE, WEEK, WEEK),
        )
    assert warehouse.get_week(REPORT, WEEK) is None


def test_skip_creates_the_row_with_the_weeks_end(warehouse: Warehouse):
    row = warehouse.life.skip(KEY, "not final yet")
    assert row.status == "skipped"
    assert row.week_end_date == WEEK + timedelta(days=6)
    assert row.completed_at is not None
    assert row.error_message == "not final yet"
    warehouse.life.claim(KEY, run_id="run-1")
    assert warehouse.life.skip(KEY, "again") is None  # a running week is not skipped
    assert warehouse.get_week(REPORT, WEEK).status == "running"


def test_transitions_reject_an_unknown_execution(warehouse: Warehouse):
    with pytest.raises(ValueError, match="no workflow_executions row"):
        warehouse.life.resume(KEY, uuid.uuid4(), run_id="run-1")
    with pytest.raises(ValueError, match="no workflow_executions row"):
        warehouse.life.fail(KEY, execution_id=uuid.uuid4(), amc_execution_id=None, message="x")


def test_updated_at_is_kept_by_the_trigger(warehouse: Warehouse):
    first = warehouse.life.skip(KEY, "not yet")
    second = warehouse.life.claim(KEY, run_id="run-1").week
    assert second.updated_at > first.updated_at
    assert second.created_at == first.created_at


def test_executions_of_stored_rows_cannot_be_deleted_others_clear_the_week_fk(
    warehouse: Warehouse,
):
    stored = collected_week(warehouse, REPORT, WEEK, amc_execution_id="amc-stored")
    with warehouse.connect() as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM workflow_executions WHERE id = %s", (stored,))
    # An execution that stored nothing (it failed) can go; the week row keeps its AMC id.
    execution_id = new_execution(warehouse, amc_execution_id="amc-fk")
    warehouse.life.fail(KEY, execution_id=execution_id, amc_execution_id=None, message="x")
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM workflow_executions WHERE id = %s", (execution_id,))
    row = warehouse.get_week(REPORT, WEEK)
    assert row is not None
    assert row.execution_id is None
    assert row.amc_execution_id == "amc-fk"
    with warehouse.connect() as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "UPDATE report_data_weeks SET execution_id = %s WHERE report = %s",
            (uuid.uuid4(), REPORT),
        )


# -- claim and take over -----------------------------------------------------------------------


def test_claim_busy_and_take_over(warehouse: Warehouse):
    first = warehouse.life.claim(KEY, run_id="run-A")
    assert first.claimed and first.previous is None
    assert first.week.status == "running" and first.week.dagster_run_id == "run-A"

    busy = warehouse.life.claim(KEY, run_id="run-B")
    assert not busy.claimed
    assert busy.holder_run_id == "run-A"
    assert warehouse.get_week(REPORT, WEEK).dagster_run_id == "run-A"

    wrong = warehouse.life.take_over(KEY, run_id="run-B", from_run_id="x")
    assert not wrong.claimed

    again = warehouse.life.claim(KEY, run_id="run-A")
    assert again.claimed  # the holder itself may claim again (retry of the same run)

    collection = warehouse.start_collection(
        report=REPORT,
        instance=INSTANCE,
        collection_type="manual",
        dagster_run_id="run-B",
        backfill_id=None,
        weeks=[WEEK],
    )
    taken = warehouse.life.take_over(
        KEY, run_id="run-B", from_run_id="run-A", collection_id=collection
    )
    assert taken.claimed
    assert taken.previous.dagster_run_id == "run-A"
    row = warehouse.get_week(REPORT, WEEK)
    assert (row.dagster_run_id, row.collection_id) == ("run-B", collection)


def test_claim_after_completion_or_failure(warehouse: Warehouse):
    warehouse.life.claim(KEY, run_id="r0")
    warehouse.life.release(KEY, "old")
    claim = warehouse.life.claim(KEY, run_id="run-C")
    assert claim.claimed
    assert claim.previous.status == "failed"
    assert claim.week.error_message is None
    assert claim.week.completed_at is None


def test_claim_concurrently_only_one_wins(warehouse: Warehouse):
    import threading

    results = []
    barrier = threading.Barrier(4)

    def claim(run: str) -> None:
        barrier.wait(timeout=30)
        results.append(warehouse.life.claim(KEY, run_id=run))

    threads = [threading.Thread(target=claim, args=(f"run-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.claimed for r in results) == 1
    winner = next(r for r in results if r.claimed).week.dagster_run_id
    assert all(r.holder_run_id == winner for r in results if not r.claimed)


# -- resumable executions ----------------------------------------------------------------------


def resumable(life, key: WeekKey, sql_hash: str, instance_id: str = "amcinstance1"):
    """The latest execution, if the next step decided at the start of an attempt resumes it."""
    latest = life.latest_execution(key, sql_hash, amc_instance_id=instance_id)
    step = decide(Situation.of(NotAsked(), None, latest), CollectionPolicy())
    return latest if isinstance(step, Resume) else None


def test_resumable_execution(warehouse: Warehouse):
    life = warehouse.life
    assert resumable(life, KEY, "sha-1") is None
    unsubmitted = new_execution(warehouse)
    assert resumable(life, KEY, "sha-1") is None  # no AMC id

    execution_id = new_execution(warehouse, amc_execution_id="amc-r1")
    found = resumable(life, KEY, "sha-1")
    assert found is not None and found.id == execution_id
    assert resumable(life, KEY, "other-sql") is None
    # The report moved to another AMC instance (same alias): the old execution is not resumed.
    assert resumable(life, KEY, "sha-1", instance_id="amcmoved01") is None
    assert resumable(life, WeekKey(REPORT, INSTANCE, WEEK + timedelta(days=7)), "sha-1") is None

    life.progress(execution_id, "RUNNING")
    assert resumable(life, KEY, "sha-1").id == execution_id
    life.progress(execution_id, "SUCCEEDED")
    # Succeeded but not loaded yet (the run crashed before the load): resume, don't resubmit.
    assert resumable(life, KEY, "sha-1").id == execution_id
    replace_week_results(warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a"], [[1]])])
    assert resumable(life, KEY, "sha-1") is None

    failed = new_execution(warehouse, amc_execution_id="amc-r2", status="FAILED")
    assert resumable(life, KEY, "sha-1") is None
    assert warehouse.get_execution(failed).status == "FAILED"
    assert warehouse.get_execution(unsubmitted).status == "CREATED"


def test_resumable_execution_ignores_older_executions(warehouse: Warehouse):
    old = new_execution(warehouse, amc_execution_id="amc-old", status="SUCCEEDED")
    newer = new_execution(warehouse, amc_execution_id="amc-new", status="CANCELLED")
    assert resumable(warehouse.life, KEY, "sha-1") is None
    assert {old, newer} == {e.id for e in warehouse.list_executions(REPORT, WEEK)}


# -- collections -------------------------------------------------------------------------------


def test_collections_are_idempotent_per_run_and_report(warehouse: Warehouse):
    weeks = [WEEK, WEEK + timedelta(days=7)]
    first, again = (
        warehouse.start_collection(
            report=REPORT,
            instance=INSTANCE,
            collection_type="backfill",
            dagster_run_id="run-9",
            backfill_id="bf-1",
            weeks=weeks,
        )
        for _ in range(2)
    )
    other = warehouse.start_collection(
        report="other",
        instance=INSTANCE,
        collection_type="scheduled",
        dagster_run_id="run-9",
        backfill_id=None,
        weeks=[WEEK],
    )
    assert first == again != other
    warehouse.finish_collection(first, status="failed", weeks_completed=1, weeks_failed=1)
    row = warehouse.get_collection(first)
    assert row.weeks == weeks and row.weeks_total == 2
    assert (row.status, row.weeks_completed, row.weeks_failed) == ("failed", 1, 1)
    assert row.completed_at is not None
    with pytest.raises(ValueError, match="collection type"):
        warehouse.start_collection(
            report=REPORT,
            instance=INSTANCE,
            collection_type="adhoc",
            dagster_run_id="r",
            backfill_id=None,
            weeks=[],
        )
    with pytest.raises(ValueError, match="status"):
        warehouse.finish_collection(first, status="meh", weeks_completed=0, weeks_failed=0)


def test_list_weeks_and_week_columns(warehouse: Warehouse):
    collected_week(warehouse, week=WEEK)
    collected_week(warehouse, week=WEEK + timedelta(days=7))
    collected_week(warehouse, report="another", week=WEEK)
    assert [w.week_start_date for w in warehouse.list_weeks(REPORT)] == [
        WEEK,
        WEEK + timedelta(days=7),
    ]
    assert len(warehouse.list_weeks()) == 3
    assert warehouse.get_week(REPORT, WEEK).result_columns == [
        ("campaign_id", "bigint"),
        ("impressions", "bigint"),
        ("spend", "double precision"),
    ]
    assert warehouse.get_week(REPORT, date(2000, 1, 2)) is None
