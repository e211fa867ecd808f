"""Loads of several weeks of one report at once: the first loads of a new results table, and a
load that changes the columns while a re-collection of another week is under way."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from amc_reports.warehouse import Warehouse
from amc_reports.warehouse.loading import LoadOptions, WeekLoad, replace_week
from amc_reports.warehouse.partitions import table_name_for_report
from amc_reports.warehouse.week_life import DatabaseRetry
from amc_reports_tests.support.warehouse import WEEK, csv_bytes, new_execution

DEADLINE_SECONDS = 120.0


class _HookedCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        text = query if isinstance(query, str) else query.as_string(self)
        self.connection.hook(text)  # type: ignore[attr-defined]
        return super().execute(query, *args, **kwargs)


class _HookedConnection(psycopg.Connection):
    """A real connection that runs `hook(query)` before each statement and before rolling back
    (to pick an interleaving of two loads deterministically)."""

    hook: Callable[[str], None] = staticmethod(lambda query: None)

    def rollback(self) -> None:
        self.hook("ROLLBACK")
        super().rollback()


def _hooked(
    warehouse: Warehouse, hook: Callable[[str], None], *, first_only: bool = False
) -> Callable[[], psycopg.Connection]:
    """Connections to the warehouse running `hook` (only the first one, if `first_only`)."""
    hooked = type("Hooked", (_HookedConnection,), {"hook": staticmethod(hook)})
    opened: list[int] = []

    def connect() -> psycopg.Connection:
        opened.append(1)
        if first_only and len(opened) > 1:
            return warehouse.connect()
        conn = hooked.connect(warehouse.database_url)
        conn.cursor_factory = _HookedCursor
        return conn

    return connect


def _load(
    warehouse: Warehouse,
    report: str,
    week_offset: int,
    data: bytes,
    connect: Callable[[], psycopg.Connection] | None = None,
) -> int:
    week = WEEK + timedelta(days=7 * week_offset)
    execution_id = new_execution(warehouse, report=report, week=week)
    execution = warehouse.get_execution(execution_id)
    assert execution is not None
    load = WeekLoad(
        connect or warehouse.connect,
        warehouse.results_schema,
        table_name_for_report(report),
        execution.key,
        execution_id,
        None,
        LoadOptions(),
        retry=DatabaseRetry(first_wait_seconds=0.1),
    )
    return replace_week(load, [data]).record_count


def _rows(warehouse: Warehouse, report: str) -> int:
    return sum(count for per in warehouse.count_rows(report).values() for count in per.values())


def test_a_load_planned_while_another_creates_the_table_loads(warehouse: Warehouse):
    """The second load reads the table's shape exactly while the first creates the table."""
    report = "first_loads"
    data = csv_bytes(["campaign", "impressions"], [["a", 1], ["b", 2]])
    statements: list[str] = []

    def create_meanwhile(query: str) -> None:
        # The first connection plans the shape: once it has read the (not yet existing) table,
        # before its next statement or the end of the planning, the other week's load creates
        # the table and commits.
        statements.append(query)
        if len(statements) == 2:
            assert "pg_class" in statements[0]
            _load(warehouse, report, 1, data)

    connect = _hooked(warehouse, create_meanwhile, first_only=True)
    assert _load(warehouse, report, 0, data, connect=connect) == 2
    assert len(statements) >= 2  # the other load did create the table meanwhile
    assert _rows(warehouse, report) == 4
    columns = [name for name, _ in warehouse.table_columns(report)]
    assert columns[:3] == ["execution_id", "week_start_date", "amc_instance"]


def test_first_loads_of_a_new_report_by_threads_at_once_all_load(warehouse: Warehouse):
    weeks = 4
    for round_ in range(3):
        report = f"new_report_{round_}"
        data = csv_bytes(["campaign", "impressions"], [["a", 1], ["b", 2], ["c", 3]])
        start = threading.Barrier(weeks)

        def one(
            offset: int,
            report: str = report,
            data: bytes = data,
            start: threading.Barrier = start,
        ) -> int:
            start.wait(timeout=DEADLINE_SECONDS)
            return _load(warehouse, report, offset, data)

        with ThreadPoolExecutor(weeks) as pool:
            counts = list(pool.map(one, range(weeks)))
        assert counts == [3] * weeks
        assert _rows(warehouse, report) == 3 * weeks


def test_a_column_change_and_a_recollection_of_another_week_both_load(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
):
    """Load B adds a column (holding the table's DDL lock, it needs every partition) while the
    re-collection A of another week, its rows copied, is about to ask for the DDL lock. A has
    not read its old partition (its rows are compared by key after it commits), so B does not
    wait for A, and A then takes the new column: both load, neither is rolled back. (When A read
    its old partition in its transaction, this deadlocked and one load was run again.)"""
    caplog.set_level(logging.WARNING, logger="amc_reports.warehouse.week_life")
    report = "deadlock"
    header = ["campaign", "impressions"]
    _load(warehouse, report, 0, csv_bytes(header, [["a", 1], ["b", 2]]))
    _load(warehouse, report, 1, csv_bytes(header, [["a", 3]]))
    failures: list[BaseException] = []
    column_change = threading.Thread(
        target=lambda: _run(
            failures,
            lambda: _load(
                warehouse,
                report,
                1,
                csv_bytes([*header, "clicks"], [["a", 3, 1]]),
            ),
        )
    )
    advisory_locks: list[str] = []

    def run_column_change_first(query: str) -> None:
        # The re-collection's second advisory lock is the DDL lock; before it asks for it, the
        # column change runs to its end (it waits for nothing the re-collection holds).
        if "pg_advisory_xact_lock" not in query or column_change.ident is not None:
            return
        advisory_locks.append(query)
        if len(advisory_locks) != 2:
            return
        column_change.start()
        column_change.join(DEADLINE_SECONDS)
        assert not column_change.is_alive(), "the column change waited for the re-collection"

    recollected = _load(
        warehouse,
        report,
        0,
        csv_bytes(header, [["a", 5], ["c", 7]]),
        connect=_hooked(warehouse, run_column_change_first),
    )
    assert column_change.ident is not None and not column_change.is_alive()
    assert failures == []
    assert recollected == 2
    assert "clicks" in [name for name, _ in warehouse.table_columns(report)]
    assert _rows(warehouse, report) == 3
    assert [r.getMessage() for r in caplog.records if "running it again" in r.getMessage()] == []


def _run(failures: list[BaseException], action: Callable[[], object]) -> None:
    try:
        action()
    except BaseException as exc:  # reported by the test
        failures.append(exc)
