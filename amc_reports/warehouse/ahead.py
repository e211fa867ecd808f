"""Work a load does beside its COPY, each in a thread of its own: opening the connection while
the head of the source is read, and measuring the sums of the rows a re-collection replaces
while it fills its table (`SumsAhead`)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any, TypeVar

import psycopg

from amc_reports.warehouse import restatement, results
from amc_reports.warehouse.rows import VersionRow

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def in_thread(work: Callable[[], _T], name: str) -> Future[_T]:
    """`work()` run in a thread of its own: its result (or error) once it is done."""
    done: Future[_T] = Future()

    def run() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


def done(value: _T) -> Future[_T]:
    """`value` as a future that is done already."""
    future: Future[_T] = Future()
    future.set_result(value)
    return future


def measure_table(
    cur: psycopg.Cursor[Any], schema: str, table: str, numeric: Sequence[str]
) -> restatement.Measured:
    """Row count and sums of `numeric` of a table that may lack some of them (None for those)."""
    have = results.read_shape(cur.connection, schema, table).types
    measured = restatement.measure(cur, schema, table, [name for name in numeric if name in have])
    return restatement.Measured(measured.rows, {name: measured.sums.get(name) for name in numeric})


class SumsAhead:
    """The row count and sums of a version's rows, measured in a thread on a connection of its
    own, by one process (the load's COPY keeps the other core), while the load fills its table."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection], version: VersionRow, numeric: list[str]
    ) -> None:
        self.execution_id: uuid.UUID = version.execution_id
        self.numeric = list(numeric)

        def measure() -> restatement.Measured:
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SET max_parallel_workers_per_gather = 0")
                measured = measure_table(cur, version.table_schema, version.table_name, numeric)
                conn.rollback()
            return measured

        self._measured = in_thread(measure, "amc-reports-measure")

    def of(self, version: VersionRow, numeric: Sequence[str]) -> restatement.Measured | None:
        """What was measured, when it is `version`'s rows and covers `numeric` (else None: the
        load measures them itself)."""
        if version.execution_id != self.execution_id or not set(numeric) <= set(self.numeric):
            return None
        try:
            measured = self._measured.result()
        except Exception as exc:  # noqa: BLE001 - the load measures them itself
            _log.info("measuring the replaced rows ahead failed (%s); measuring them now", exc)
            return None
        _log.debug(
            "the sums of the rows of execution %s were measured while the load filled its table",
            self.execution_id,
        )
        return restatement.Measured(measured.rows, {name: measured.sums[name] for name in numeric})

    def finish(self) -> None:
        """Wait until the thread is done (its connection is closed then)."""
        wait([self._measured])
