"""A week transition whose database connection is cut before it commits is run again, whole
(fencing included), and lands once; one cut while committing is not run again.

The cuts are real: a trigger makes the transition's own backend call pg_terminate_backend on
itself, once (a sequence counts, outside any transaction), in the middle of the transition's
transaction, or (a deferred constraint trigger) while it commits.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import psycopg
import pytest

from amc_reports.warehouse import ExecutionState, Warehouse, WeekKey
from amc_reports.warehouse.week_life import (
    CommitUncertain,
    DatabaseRetry,
    WeekLife,
    broke_before_commit,
)
from amc_reports_tests.support.warehouse import INSTANCE, submission

REPORT = "weekly_campaign"
WEEK = date(2024, 1, 7)
KEY = WeekKey(REPORT, INSTANCE, WEEK)
FAST = DatabaseRetry(attempts=4, first_wait_seconds=0.05, max_wait_seconds=0.2)

KILLER = """
CREATE SEQUENCE IF NOT EXISTS test_cuts;
CREATE OR REPLACE FUNCTION test_cut_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('test_cuts') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END $$;
"""


def _cut_once(warehouse: Warehouse, table: str, when: str, *, at_commit: bool = False) -> None:
    """The next `when` (INSERT, UPDATE) on `table` cuts its own connection (once)."""
    with warehouse.connect() as conn:
        conn.execute(KILLER)
        if at_commit:
            conn.execute(
                f"CREATE CONSTRAINT TRIGGER test_cut AFTER {when} ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_cut_once()"
            )
        else:
            conn.execute(
                f"CREATE TRIGGER test_cut AFTER {when} ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION test_cut_once()"
            )


def _cuts(warehouse: Warehouse) -> int:
    """How often the trigger fired (the first firing cut the connection)."""
    with warehouse.connect() as conn:
        return conn.execute("SELECT last_value FROM test_cuts").fetchone()[0]


def _executions(warehouse: Warehouse) -> int:
    with warehouse.connect() as conn:
        return conn.execute("SELECT count(*) FROM workflow_executions").fetchone()[0]


@pytest.fixture
def life(warehouse: Warehouse) -> WeekLife:
    return WeekLife(warehouse.connect, FAST)


def test_a_submission_cut_before_commit_is_recorded_once(warehouse, life, caplog):
    caplog.set_level(logging.WARNING, logger="amc_reports.warehouse.week_life")
    life.claim(KEY, run_id="run-1")
    _cut_once(warehouse, "workflow_executions", "INSERT")
    execution_id = life.record_submission(KEY, submission(), run_id="run-1")
    assert _cuts(warehouse) == 2  # cut once, then run again
    assert _executions(warehouse) == 1
    assert warehouse.get_execution(execution_id).status == "CREATED"
    [retry] = [r for r in caplog.records if "record_submission" in r.getMessage()]
    assert "connection broke before it committed" in retry.getMessage()
    assert "attempt 2 of 4" in retry.getMessage()


def test_a_fenced_failure_cut_mid_transition_lands_once_for_its_run(warehouse, life):
    """`fail` changes the execution, then the week: the cut comes between the two."""
    life.claim(KEY, run_id="run-1")
    execution_id = life.record_submission(KEY, submission(), run_id="run-1")
    life.attach(execution_id, "amc-1", submitted_at=datetime.now(UTC))
    _cut_once(warehouse, "report_data_weeks", "UPDATE")
    row = life.fail(
        KEY,
        execution_id=execution_id,
        amc_execution_id="amc-1",
        message="AMC said no",
        execution_status=ExecutionState.FAILED,
        run_id="run-1",
    )
    assert _cuts(warehouse) == 2
    assert row is not None and row.status == "failed" and row.error_message == "AMC said no"
    assert warehouse.get_execution(execution_id).status == "FAILED"


def test_fencing_still_decides_after_a_retry(warehouse, life):
    """A run that no longer holds the week changes nothing, retried or not."""
    life.claim(KEY, run_id="run-1")
    life.take_over(KEY, run_id="run-2", from_run_id="run-1")
    _cut_once(warehouse, "report_data_weeks", "INSERT OR UPDATE")
    assert life.release(KEY, "run-1 gave up", run_id="run-1") is None
    assert _cuts(warehouse) >= 1
    week = warehouse.get_week_by_key(KEY)
    assert week.status == "running" and week.dagster_run_id == "run-2"


def test_a_cut_while_committing_is_not_run_again(warehouse, life):
    life.claim(KEY, run_id="run-1")
    _cut_once(warehouse, "workflow_executions", "INSERT", at_commit=True)
    with pytest.raises(CommitUncertain) as uncertain:
        life.record_submission(KEY, submission(), run_id="run-1")
    assert "may or may not be stored" in str(uncertain.value)
    assert _cuts(warehouse) == 1  # not run again: it might have been stored
    assert _executions(warehouse) == 0  # (here it was not: the backend died before committing)


def test_a_transition_gives_up_after_its_attempts(warehouse):
    life = WeekLife(warehouse.connect, DatabaseRetry(attempts=2, first_wait_seconds=0.05))
    with warehouse.connect() as conn:
        conn.execute("CREATE SEQUENCE test_cuts")
        conn.execute(
            "CREATE FUNCTION test_cut_always() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN PERFORM nextval('test_cuts'); PERFORM pg_terminate_backend(pg_backend_pid());"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_cut_always AFTER INSERT ON report_data_weeks"
            " FOR EACH ROW EXECUTE FUNCTION test_cut_always()"
        )
    with pytest.raises(psycopg.OperationalError) as broken:
        life.claim(KEY, run_id="run-1")
    assert broke_before_commit(broken.value)
    assert _cuts(warehouse) == 2  # bounded: two attempts, then the error
    assert warehouse.get_week_by_key(KEY) is None


def test_what_is_retried():
    assert broke_before_commit(psycopg.OperationalError("server closed the connection"))
    assert broke_before_commit(psycopg.errors.AdminShutdown("terminating connection"))
    assert broke_before_commit(psycopg.errors.DeadlockDetected("deadlock"))
    assert not broke_before_commit(CommitUncertain("lost while committing"))
    assert not broke_before_commit(psycopg.errors.UniqueViolation("duplicate"))
    assert not broke_before_commit(psycopg.errors.QueryCanceled("statement timeout"))
    assert not broke_before_commit(ValueError("not the database"))
