"""The life of a week: every write to `report_data_weeks` and `workflow_executions`, as named
transitions. Nothing else in the project writes those two tables.

A week (`WeekStatus`; also drawn in docs/design.md, "The life of a week"):

    (no row) ─claim─▶ running ─complete─▶ completed
    pending | failed | completed | skipped ─claim─▶ running
    running, held by this run ─claim─▶ running                (a retry of the same run)
    running, held by a run that has ended ─take_over─▶ running
    running ─fail─▶ failed                        (AMC failed it, or it would not load)
    running ─release─▶ failed                     (the attempt stopped: error, interrupt)
    running (dead run) | failed ─settle─▶ failed  (the reconciler: AMC failed or lost it)
    (no row) | pending | failed ─skip─▶ skipped

An execution (`ExecutionState`), one row per AMC execution we ask for:

    (no row) ─record_submission─▶ CREATED ─attach─▶ PENDING ─progress─▶ RUNNING ─▶ PUBLISHING
    PUBLISHING ─progress─▶ SUCCEEDED ─complete─▶ SUCCEEDED, loaded (row_count set)
    PENDING | RUNNING | PUBLISHING ─progress─▶ FAILED | CANCELLED | REJECTED
    CREATED ─fail (submission)─▶ SUBMIT_FAILED
    CREATED ─mark_untracked─▶ UNTRACKED ─adopt─▶ PENDING | RUNNING | ... (found in AMC's list)
    UNTRACKED | PENDING | RUNNING | PUBLISHING | SUCCEEDED ─mark_lost─▶ LOST   (AMC: 404)
    SUCCEEDED ─count_load_failure─▶ SUCCEEDED, load_failures + 1   (its result would not load)
    SUCCEEDED, unloaded ─give_up─▶ SUCCEEDED, unloaded, with why   (a new one is submitted)

Sources: every execution records the AMC it runs on (`amc_source`: live or sandbox, and its API
host), and a week the source of the execution that completes it. One (report, instance) never
mixes them: `record_submission` (before anything is paid for) and `complete` (inside the load's
transaction) refuse a source other than that of the weeks it already holds (`MixedAmcSourceError`).

Fencing: a run changes a week only while it holds the week's claim. `fail` and `release` given
the run's id leave a week another run has taken over alone; `complete` given it refuses (inside
the load's transaction, `ClaimLost`), so a run whose claim was taken over cannot commit its load.

While a week is running, its row names the execution it works on (`attach` when AMC accepts a new
one, `resume` when an earlier one is picked up again): both ids are on the week row from the moment
AMC answers.

Two kinds of transition, one class each:
- `WeekLife` (`warehouse.life`): every transition but `complete` is a transaction of its own
  (`_transaction`), and one whose connection broke before it committed (the server restarted,
  the connection was cut, a deadlock) is run again whole, fencing checks included (`@_retried`,
  bounded by `DatabaseRetry`, each retry logged). A connection that breaks while committing is
  not retried (`CommitUncertain`): the change may be stored, and the next attempt or the
  reconciler reads what is.
- `WeekInLoad`: `complete` joins the load's transaction, on the load's cursor, so the week's
  rows, its outcome and its versions (`versions.WeekVersions`) commit together; the load runs
  its whole transaction again when it broke (`retrying`, the same `DatabaseRetry`).

Every message and failure reason is stored redacted and cut (`cap_error_text`).

A week is final `lag_days` after it ends (`final_at`). An execution submitted before then is
provisional, and so is the week it completes: the row says so until a later collection is final.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from amc_reports.amc.redact import cap_error_text
from amc_reports.warehouse.connection import DatabaseUnreachableError
from amc_reports.warehouse.rows import (
    EXECUTION_COLUMNS,
    WEEK_COLUMNS,
    WEEK_WHERE,
    ExecutionRow,
    ExecutionState,
    FailureKind,
    WeekKey,
    WeekRow,
    columns_of,
    execution_row,
    parse_status,
    week_row,
)

_log = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection]
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class DatabaseRetry:
    """How often, and how long, a transition whose connection broke is run again."""

    attempts: int = 6  # in all, the first included
    first_wait_seconds: float = 0.5  # then doubling
    max_wait_seconds: float = 8.0
    max_seconds: float = 60.0  # no new attempt starts after this long


class CommitUncertain(psycopg.OperationalError):
    """The connection broke while the transition committed: it may or may not be stored (not
    retried; what is stored decides the next step)."""


# Connection exceptions (class 08), transactions Postgres rolled back (class 40: deadlock,
# serialization failure), the server shutting down or starting (57P01-57P03).
_RETRIED_SQLSTATE_CLASSES = ("08", "40")
_RETRIED_SQLSTATES = ("57P01", "57P02", "57P03")


def broke_before_commit(exc: BaseException) -> bool:
    """Whether `exc` means the transaction did not commit and may simply be run again: the
    connection broke or could not be opened, or Postgres rolled it back (deadlock, serialization
    failure)."""
    if isinstance(exc, CommitUncertain):
        return False
    if isinstance(exc, DatabaseUnreachableError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate  # None: the connection broke without a word from the server
        return (
            state is None
            or state.startswith(_RETRIED_SQLSTATE_CLASSES)
            or state in _RETRIED_SQLSTATES
        )
    return False


def retrying(policy: DatabaseRetry, what: str) -> Retrying:
    """Runs a transaction again, whole, while it fails by `broke_before_commit` (bounded by
    `policy`, each retry logged naming `what`)."""

    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        _log.warning(
            "%s: the database connection broke before it committed, or Postgres rolled it back "
            "(%s: %s); running it again in %.1f s (attempt %d of %d)",
            what,
            type(error).__name__,
            str(error).strip().splitlines()[0] if error and str(error).strip() else "",
            wait,
            state.attempt_number + 1,
            policy.attempts,
        )

    return Retrying(
        retry=retry_if_exception(broke_before_commit),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
        wait=wait_exponential(multiplier=policy.first_wait_seconds, max=policy.max_wait_seconds),
        before_sleep=log,
        reraise=True,
    )


@contextlib.contextmanager
def transaction(connect: Connect) -> Iterator[psycopg.Connection]:
    """A connection for one transaction: committed when the block ends normally, else rolled
    back; closed either way. A break while committing is `CommitUncertain`."""
    conn = connect()
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        raise
    else:
        try:
            conn.commit()
        except psycopg.OperationalError as exc:
            raise CommitUncertain(
                f"the database connection broke while committing ({exc}); the change may "
                "or may not be stored"
            ) from exc
    finally:
        conn.close()


def _retried(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run the transition again, whole, when its connection broke before it committed."""

    @functools.wraps(method)
    def retried(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        life: WeekLife = args[0]  # type: ignore[assignment]
        what = f"week transition {method.__name__.lstrip('_')}"
        return retrying(life.retry, what)(method, *args, **kwargs)

    return retried


class MixedAmcSourceError(ValueError):
    """Results of one AMC (sandbox or live) for a (report, instance) whose stored weeks came
    from the other: refused, nothing stored."""


class ClaimLost(RuntimeError):
    """The run loading a week no longer holds its claim (another run took it over): nothing of
    its load is committed."""


@dataclass(frozen=True)
class Claim:
    """What `claim` / `take_over` did: `claimed`, else which run holds the week."""

    claimed: bool
    holder_run_id: str | None = None
    previous: WeekRow | None = None
    week: WeekRow | None = None


@dataclass(frozen=True)
class Submission:
    """What is about to be submitted to AMC for a week."""

    amc_instance_id: str
    time_window_start: datetime | str
    time_window_end: datetime | str
    time_zone: str
    sql_hash: str
    parameters: dict[str, Any]
    final_at: datetime | None = None
    provisional: bool = False  # submitted before final_at
    # The AMC it goes to: 'live' or 'sandbox' (`AmcClientConfig.source`), and its API host.
    amc_source: str | None = None
    amc_api_host: str | None = None


@dataclass(frozen=True)
class LoadedWeek:
    """What a load stored for a week: the values `complete` records."""

    record_count: int
    checksum: str
    bytes: int
    columns: list[tuple[str, str]]


def _value(kind: FailureKind | None) -> str | None:
    return None if kind is None else FailureKind(kind).value


def _naive(value: datetime | str) -> datetime | str:
    """AMC time windows are wall-clock times in the report's zone: stored without a zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


# The week row may be changed by run %s: any run when NULL, else only while it holds the claim.
HELD_BY = "(%s::text IS NULL OR (status = 'running' AND dagster_run_id = %s::text))"


def _fail_held_week(
    cur: psycopg.Cursor[Any],
    key: WeekKey,
    message: str,
    failure_kind: str | None,
    run_id: str | None,
    ids: tuple[uuid.UUID, str | None] | None = None,
) -> WeekRow | None:
    """The week fails with `message` (naming the execution `ids` it failed on, if given; else it
    keeps its ids), while `run_id` holds it (None: whoever holds it). None when another run has
    taken the week over."""
    _ensure_week_row(cur, key)
    set_ids = sql.SQL("execution_id = %s, amc_execution_id = %s," if ids else "")
    cur.execute(
        sql.SQL(
            "UPDATE report_data_weeks SET status = 'failed', {} error_message = %s,"
            " failure_kind = %s, completed_at = clock_timestamp()"
            " WHERE " + WEEK_WHERE + " AND " + HELD_BY + " RETURNING {}"
        ).format(set_ids, WEEK_COLUMNS),
        (*(ids or ()), cap_error_text(message), failure_kind, *key.params, run_id, run_id),
    )
    row = week_row(cur.fetchone())
    if row is None and run_id is None:
        raise AssertionError(f"{key.describe()}: the week row vanished")
    return row


def _refuse_mixed_source(
    cur: psycopg.Cursor[Any], key: WeekKey, source: str | None, host: str | None
) -> None:
    """`MixedAmcSourceError` when the (report, instance) holds completed weeks of the other AMC
    (weeks of an unknown source, from before sources were recorded, never conflict)."""
    if source not in ("live", "sandbox"):
        return
    cur.execute(
        "SELECT amc_source, amc_api_host, week_start_date FROM report_data_weeks"
        " WHERE report = %s AND amc_instance = %s AND status = 'completed'"
        " AND amc_source IN ('live', 'sandbox') AND amc_source <> %s"
        " ORDER BY week_start_date LIMIT 1",
        (key.report, key.instance, source),
    )
    held = cur.fetchone()
    if held is not None:
        raise MixedAmcSourceError(
            f"report {key.report!r} on instance {key.instance!r}: refusing results from "
            f"{_source_name(source, host)}: its stored weeks came from "
            f"{_source_name(held[0], held[1])} (e.g. week {held[2]}). Sandbox and live weeks of "
            "one report and instance never mix: use another database for the sandbox "
            "(AMC_REPORTS_DATABASE_URL), or delete the report's weeks of the other AMC first."
        )


def _source_name(source: str, host: str | None) -> str:
    name = "the AMC sandbox" if source == "sandbox" else "live AMC"
    return f"{name} ({host})" if host else name


def _ensure_week_row(cur: psycopg.Cursor[Any], key: WeekKey) -> bool:
    """Create the week's row (pending) if it does not exist; True when it was created."""
    cur.execute(
        "INSERT INTO report_data_weeks"
        " (report, amc_instance, week_start_date, week_end_date, status)"
        " VALUES (%s, %s, %s, %s, 'pending')"
        " ON CONFLICT (report, amc_instance, week_start_date) DO NOTHING",
        (*key.params, key.week_end),
    )
    return cur.rowcount == 1


def _lock_week_row(cur: psycopg.Cursor[Any], key: WeekKey) -> WeekRow:
    cur.execute(
        sql.SQL("SELECT {} FROM report_data_weeks WHERE " + WEEK_WHERE + " FOR UPDATE").format(
            WEEK_COLUMNS
        ),
        key.params,
    )
    row = week_row(cur.fetchone())
    assert row is not None
    return row


class WeekLife:
    """The transitions of weeks and executions that are each a transaction of their own,
    retried whole when the connection broke (see the module docstring)."""

    def __init__(self, connect: Connect, retry: DatabaseRetry | None = None) -> None:
        self._connect = connect
        self.retry = retry or DatabaseRetry()

    def _transaction(self) -> contextlib.AbstractContextManager[psycopg.Connection]:
        """One transition's connection (`transaction`)."""
        return transaction(self._connect)

    # -- claiming a week -----------------------------------------------------------------------

    def claim(self, key: WeekKey, *, run_id: str, collection_id: uuid.UUID | None = None) -> Claim:
        """Mark the week running for `run_id`, unless another run holds it (row-locked)."""
        return self._claim(key, run_id, collection_id, may_take_from=None)

    def take_over(
        self,
        key: WeekKey,
        *,
        run_id: str,
        from_run_id: str,
        collection_id: uuid.UUID | None = None,
    ) -> Claim:
        """Claim a week that `from_run_id` left running (the caller knows that run has ended)."""
        return self._claim(key, run_id, collection_id, may_take_from=from_run_id)

    @_retried
    def _claim(
        self,
        key: WeekKey,
        run_id: str,
        collection_id: uuid.UUID | None,
        may_take_from: str | None,
    ) -> Claim:
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            created = _ensure_week_row(cur, key)
            current = _lock_week_row(cur, key)
            previous = None if created else current
            holder = current.holder
            held_by_other = holder is not None and holder != run_id
            if held_by_other and holder != may_take_from:
                return Claim(claimed=False, holder_run_id=holder, previous=previous)
            if held_by_other:
                _log.warning("run %s takes %s over from run %s", run_id, key.describe(), holder)
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks SET status = 'running', dagster_run_id = %s,"
                    " collection_id = %s, started_at = clock_timestamp(), completed_at = NULL,"
                    " error_message = NULL, failure_kind = NULL"
                    " WHERE " + WEEK_WHERE + " RETURNING {}"
                ).format(WEEK_COLUMNS),
                (run_id, collection_id, *key.params),
            )
            return Claim(claimed=True, previous=previous, week=week_row(cur.fetchone()))

    # -- executions ----------------------------------------------------------------------------

    @_retried
    def record_submission(
        self, key: WeekKey, submission: Submission, *, run_id: str | None, attempt: int = 1
    ) -> uuid.UUID:
        """Record an execution about to be submitted (CREATED); returns its execution_id.
        `attempt` counts the submissions of one collection of the week (1 = the first)."""
        with self._transaction() as conn, conn.cursor() as cur:
            _refuse_mixed_source(cur, key, submission.amc_source, submission.amc_api_host)
            row = cur.execute(
                "INSERT INTO workflow_executions (report, amc_instance, week_start_date,"
                " week_end_date, amc_instance_id, status, time_window_start, time_window_end,"
                " time_zone, sql_hash, parameters, dagster_run_id, final_at, provisional, attempt,"
                " amc_source, amc_api_host)"
                " VALUES (%s, %s, %s, %s, %s, 'CREATED', %s::timestamp, %s::timestamp, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    key.report,
                    key.instance,
                    key.week_start,
                    key.week_end,
                    submission.amc_instance_id,
                    _naive(submission.time_window_start),
                    _naive(submission.time_window_end),
                    submission.time_zone,
                    submission.sql_hash,
                    Jsonb(submission.parameters or {}),
                    run_id,
                    submission.final_at,
                    submission.provisional,
                    attempt,
                    submission.amc_source,
                    submission.amc_api_host,
                ),
            ).fetchone()
        assert row is not None
        return row[0]

    def adopt(self, execution_id: uuid.UUID, amc_execution_id: str, **when: Any) -> None:
        """An execution AMC created without naming it to us (UNTRACKED) was found in AMC's list:
        it is ours, under that id, on the execution and on the week (nothing is submitted).
        The same change as `attach` (same keywords), named for the transition it is."""
        self.attach(execution_id, amc_execution_id, **when)

    @_retried
    def attach(
        self,
        execution_id: uuid.UUID,
        amc_execution_id: str,
        *,
        submitted_at: datetime,
        status: ExecutionState | str = ExecutionState.PENDING,
    ) -> None:
        """AMC accepted the execution: its id goes on the execution and on the week, at once."""
        state = parse_status(ExecutionState, status, "execution")
        if not amc_execution_id:
            raise ValueError("amc_execution_id must not be empty")
        with self._transaction() as conn, conn.cursor() as cur:
            try:
                cur.execute(
                    "UPDATE workflow_executions SET amc_execution_id = %s, status = %s,"
                    " submitted_at = %s, failure_reason = NULL, failure_kind = NULL,"
                    " completed_at = NULL WHERE id = %s"
                    " RETURNING report, amc_instance, week_start_date",
                    (amc_execution_id, state.value, submitted_at, execution_id),
                )
            except psycopg.errors.UniqueViolation:
                raise ValueError(
                    f"amc_execution_id {amc_execution_id} is already recorded for another execution"
                ) from None
            found = cur.fetchone()
            if found is None:
                raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
            key = WeekKey(found[0], found[1], found[2])
            _ensure_week_row(cur, key)
            cur.execute(
                "UPDATE report_data_weeks SET execution_id = %s, amc_execution_id = %s"
                " WHERE " + WEEK_WHERE,
                (execution_id, amc_execution_id, *key.params),
            )

    @_retried
    def resume(self, key: WeekKey, execution_id: uuid.UUID, *, run_id: str) -> WeekRow:
        """The running week works on an execution submitted earlier (no new submission)."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            _ensure_week_row(cur, key)
            _lock_week_row(cur, key)
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks w SET status = 'running', execution_id = e.id,"
                    " amc_execution_id = e.amc_execution_id, dagster_run_id = %s,"
                    " started_at = clock_timestamp(), completed_at = NULL, error_message = NULL"
                    " FROM workflow_executions e"
                    " WHERE e.id = %s AND w.report = %s AND w.amc_instance = %s"
                    " AND w.week_start_date = %s RETURNING {}"
                ).format(columns_of(WeekRow, "w")),
                (run_id, execution_id, *key.params),
            )
            row = week_row(cur.fetchone())
        if row is None:
            raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
        return row

    @_retried
    def progress(
        self,
        execution_id: uuid.UUID,
        status: ExecutionState | str,
        *,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
        failure_reason: str | None = None,
        data_gaps: list[Any] | None = None,
        failure_kind: FailureKind | None = None,
    ) -> None:
        """What AMC says of the execution now; fields not given keep what is stored."""
        state = parse_status(ExecutionState, status, "execution")
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE workflow_executions SET status = %s,"
                " started_at = COALESCE(%s, started_at),"
                " completed_at = COALESCE(%s, completed_at),"
                " failure_reason = COALESCE(%s, failure_reason),"
                " data_gaps = COALESCE(%s, data_gaps),"
                " failure_kind = COALESCE(%s, failure_kind)"
                " WHERE id = %s",
                (
                    state.value,
                    started_at,
                    completed_at,
                    None if failure_reason is None else cap_error_text(failure_reason),
                    Jsonb(data_gaps) if data_gaps is not None else None,
                    _value(failure_kind),
                    execution_id,
                ),
            )
            if cur.rowcount == 0:
                raise ValueError(f"execution_id {execution_id} has no workflow_executions row")

    def mark_untracked(self, execution_id: uuid.UUID, reason: str) -> ExecutionRow:
        """AMC may have created the execution but did not name it (a create answered without an
        id, a connection cut after sending): a later attempt looks for it and adopts it."""
        return self._end_execution(
            execution_id, ExecutionState.UNTRACKED, reason, FailureKind.UNTRACKED
        )

    def mark_lost(self, execution_id: uuid.UUID, reason: str) -> ExecutionRow:
        """AMC no longer knows the execution (HTTP 404), or never listed an untracked one: it is
        never resumed again; the next attempt submits a new one."""
        return self._end_execution(execution_id, ExecutionState.LOST, reason, FailureKind.LOST)

    @_retried
    def _end_execution(
        self, execution_id: uuid.UUID, state: ExecutionState, reason: str, kind: FailureKind
    ) -> ExecutionRow:
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE workflow_executions SET status = %s, failure_reason = %s,"
                    " failure_kind = %s, completed_at = clock_timestamp() WHERE id = %s"
                    " RETURNING {}"
                ).format(EXECUTION_COLUMNS),
                (state.value, cap_error_text(reason), kind.value, execution_id),
            )
            row = execution_row(cur.fetchone())
        if row is None:
            raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
        return row

    def latest_execution(
        self, key: WeekKey, sql_hash: str, *, amc_instance_id: str
    ) -> ExecutionRow | None:
        """The newest execution of (week, sql_hash) on the AMC instance `amc_instance_id` that AMC
        accepted (has an amc_execution_id), if any: whether a new attempt resumes it or submits
        anew is `collection.next_step`'s decision."""
        accepted = sql.SQL("amc_execution_id IS NOT NULL AND status <> 'UNTRACKED'")
        newest = self._executions(key, sql_hash, amc_instance_id, accepted, limit=1)
        return newest[0] if newest else None

    @_retried
    def count_load_failure(self, execution_id: uuid.UUID) -> int:
        """The execution's result failed to load once more: how often it has now."""
        with self._transaction() as conn:
            found = conn.execute(
                "UPDATE workflow_executions SET load_failures = load_failures + 1 WHERE id = %s"
                " RETURNING load_failures",
                (execution_id,),
            ).fetchone()
        if found is None:
            raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
        return int(found[0])

    @_retried
    def give_up(self, execution_id: uuid.UUID, reason: str) -> None:
        """A new execution replaces this unloaded one: it keeps AMC's status, with why."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE workflow_executions SET failure_reason = %s, failure_kind = %s"
                " WHERE id = %s AND row_count IS NULL",
                (cap_error_text(reason), FailureKind.LOAD.value, execution_id),
            )

    def untracked_executions(
        self, key: WeekKey, sql_hash: str, *, amc_instance_id: str
    ) -> list[ExecutionRow]:
        """Executions of (week, sql_hash) on `amc_instance_id` that AMC may have created without
        naming them (UNTRACKED), newest first: a new attempt looks for them before submitting."""
        untracked = sql.SQL("status = 'UNTRACKED'")
        return self._executions(key, sql_hash, amc_instance_id, untracked)

    @_retried
    def _executions(
        self,
        key: WeekKey,
        sql_hash: str,
        amc_instance_id: str,
        condition: sql.Composable,
        limit: int | None = None,
    ) -> list[ExecutionRow]:
        """The week's executions of `sql_hash` on `amc_instance_id` meeting `condition` (SQL),
        newest first."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM workflow_executions WHERE " + WEEK_WHERE + " AND sql_hash = %s"
                    " AND amc_instance_id = %s AND {} ORDER BY created_at DESC, id DESC LIMIT %s"
                ).format(EXECUTION_COLUMNS, condition),
                (*key.params, sql_hash, amc_instance_id, limit),
            )
            return [row for row in map(execution_row, cur.fetchall()) if row is not None]

    # -- ending an attempt ---------------------------------------------------------------------

    @_retried
    def fail(
        self,
        key: WeekKey,
        *,
        execution_id: uuid.UUID,
        amc_execution_id: str | None,
        message: str,
        execution_status: ExecutionState | None = None,
        execution_reason: str | None = None,
        failure_kind: FailureKind | None = None,
        run_id: str | None = None,
    ) -> WeekRow | None:
        """The week failed on this execution (whose status becomes `execution_status` if given).

        Both rows change in one transaction. The week row names the execution it failed on; its
        AMC id is the one given, else the execution's own. Given `run_id`, the week changes only
        while that run holds it (None is returned when another run has taken it over; the
        execution's row still changes).
        """
        kind = _value(failure_kind)
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            if execution_status is not None:
                cur.execute(
                    "UPDATE workflow_executions SET status = %s, completed_at = clock_timestamp(),"
                    " failure_reason = %s, failure_kind = COALESCE(%s, failure_kind)"
                    " WHERE id = %s",
                    (
                        execution_status.value,
                        cap_error_text(execution_reason or message),
                        kind,
                        execution_id,
                    ),
                )
            elif kind is not None:
                cur.execute(
                    "UPDATE workflow_executions SET failure_kind = %s WHERE id = %s",
                    (kind, execution_id),
                )
            cur.execute(
                "SELECT amc_execution_id FROM workflow_executions WHERE id = %s", (execution_id,)
            )
            found = cur.fetchone()
            if found is None:
                raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
            return _fail_held_week(
                cur,
                key,
                message,
                kind,
                run_id,
                ids=(execution_id, amc_execution_id or found["amc_execution_id"]),
            )

    @_retried
    def release(
        self,
        key: WeekKey,
        message: str,
        *,
        failure_kind: FailureKind = FailureKind.INTERRUPTED,
        run_id: str | None = None,
    ) -> WeekRow | None:
        """The attempt stopped before finishing (an unexpected error, an interrupt, a circuit
        breaker): the week fails with `message` and keeps the ids it has, so a new attempt can
        resume them. Given `run_id`, only while that run holds the week (else None)."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            return _fail_held_week(cur, key, message, failure_kind.value, run_id)

    @_retried
    def settle(
        self,
        key: WeekKey,
        *,
        execution_id: uuid.UUID,
        holder_run_id: str | None,
        message: str,
        failure_kind: FailureKind,
    ) -> WeekRow | None:
        """The reconciler learnt from AMC that the week's execution failed (or is lost) while no
        run watched: the week fails with `message`, if it is still on that execution and either
        not running or running for `holder_run_id` (a run that has ended). Else None: a run
        has claimed the week since, and it decides."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks SET status = 'failed', error_message = %s,"
                    " failure_kind = %s, completed_at = clock_timestamp()"
                    " WHERE " + WEEK_WHERE + " AND execution_id = %s"
                    " AND (status <> 'running' OR dagster_run_id IS NOT DISTINCT FROM %s)"
                    " RETURNING {}"
                ).format(WEEK_COLUMNS),
                (
                    cap_error_text(message),
                    failure_kind.value,
                    *key.params,
                    execution_id,
                    holder_run_id,
                ),
            )
            return week_row(cur.fetchone())

    @_retried
    def skip(self, key: WeekKey, reason: str) -> WeekRow | None:
        """Nothing is to be collected for the week now (the row says why). A week that is
        running or completed is left as it is (returns None)."""
        with self._transaction() as conn, conn.cursor(row_factory=dict_row) as cur:
            _ensure_week_row(cur, key)
            cur.execute(
                sql.SQL(
                    "UPDATE report_data_weeks SET status = 'skipped', error_message = %s,"
                    " completed_at = clock_timestamp()"
                    " WHERE " + WEEK_WHERE + " AND status IN ('pending', 'failed', 'skipped')"
                    " RETURNING {}"
                ).format(WEEK_COLUMNS),
                (cap_error_text(reason), *key.params),
            )
            return week_row(cur.fetchone())


@dataclass(frozen=True)
class Completed:
    """What `WeekInLoad.complete` recorded, from the execution that completed the week (so the
    load returns it and nothing is read back)."""

    provisional: bool  # collected before the week was final
    amc_source: str | None  # 'live', 'sandbox' or 'unknown' (before sources were recorded)
    amc_api_host: str | None


class WeekInLoad:
    """The week's transition inside the load's transaction (`loading.WeekLoad`): on the
    caller's cursor, committed or rolled back with the week's rows; neither a transaction of
    its own nor retried here (the load runs its whole transaction again)."""

    def __init__(self, cur: psycopg.Cursor[Any], key: WeekKey) -> None:
        self._cur = cur
        self.key = key

    def complete(
        self,
        execution_id: uuid.UUID,
        amc_execution_id: str | None,
        loaded: LoadedWeek,
        *,
        started: float,
        run_id: str | None = None,
    ) -> Completed:
        """The week is completed by this execution's rows (its versions: `versions.WeekVersions`,
        in the same transaction).

        `started` is the load's `time.perf_counter()` start, used as the execution time of a
        week that was not claimed (a direct load). Given `run_id` (the run that claimed the week
        and loads it), the week must still be running for that run: else `ClaimLost`, and the
        caller's transaction (the whole load) rolls back.
        """
        cur, key = self._cur, self.key
        _ensure_week_row(cur, key)
        if run_id is not None:
            cur.execute(
                "SELECT status, dagster_run_id FROM report_data_weeks WHERE "
                + WEEK_WHERE
                + " FOR UPDATE",
                key.params,
            )
            held = cur.fetchone()
            if held is None or held[0] != "running" or held[1] != run_id:
                holder = f"run {held[1]}" if held and held[1] else "no run"
                raise ClaimLost(
                    f"{key.describe()} is no longer held by run {run_id} (it is "
                    f"{held[0] if held else 'gone'}, held by {holder}): this run's load of "
                    f"execution_id {execution_id} was not committed"
                )
        cur.execute(
            "SELECT amc_source, amc_api_host FROM workflow_executions WHERE id = %s",
            (execution_id,),
        )
        source = cur.fetchone()
        if source is not None:
            _refuse_mixed_source(cur, key, source[0], source[1])
        cur.execute(
            "UPDATE report_data_weeks w SET"
            " status = 'completed',"
            " record_count = %(count)s,"
            " data_checksum = %(checksum)s,"
            " execution_time_seconds = CASE"
            "   WHEN w.status = 'running' AND w.started_at IS NOT NULL"
            "   THEN extract(epoch FROM clock_timestamp() - w.started_at)::double precision"
            "   ELSE %(seconds)s END,"
            " completed_at = clock_timestamp(),"
            " execution_id = %(execution_id)s,"
            " amc_execution_id = COALESCE(%(amc)s, e.amc_execution_id),"
            " result_columns = %(columns)s,"
            " error_message = NULL,"
            " failure_kind = NULL,"
            " provisional = e.provisional,"
            " final_at = COALESCE(e.final_at, w.final_at),"
            " amc_source = e.amc_source,"
            " amc_api_host = e.amc_api_host"
            " FROM workflow_executions e"
            " WHERE e.id = %(execution_id)s AND w.report = %(report)s"
            " AND w.amc_instance = %(instance)s AND w.week_start_date = %(week)s"
            " AND e.report = w.report AND e.amc_instance = w.amc_instance"
            " AND e.week_start_date = w.week_start_date"
            " RETURNING w.amc_execution_id, e.provisional, e.amc_source, e.amc_api_host",
            {
                "count": loaded.record_count,
                "checksum": loaded.checksum,
                "seconds": time.perf_counter() - started,
                "execution_id": execution_id,
                "amc": amc_execution_id,
                "columns": Jsonb([list(c) for c in loaded.columns]),
                "report": key.report,
                "instance": key.instance,
                "week": key.week_start,
            },
        )
        updated = cur.fetchone()
        if updated is None:
            raise ValueError(
                f"execution_id {execution_id} has no workflow_executions row of {key.describe()}"
            )
        if not updated[0]:
            _log.warning(
                "%s completed without an amc_execution_id: lineage incomplete", key.describe()
            )
        cur.execute(
            "UPDATE workflow_executions SET row_count = %s, bytes = %s WHERE id = %s",
            (loaded.record_count, loaded.bytes, execution_id),
        )
        return Completed(
            provisional=bool(updated[1]), amc_source=updated[2], amc_api_host=updated[3]
        )
