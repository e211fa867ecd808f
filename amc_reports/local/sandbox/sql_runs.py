"""Run each execution's SQL once, off the request path, and keep its result parts on disk.

Executions that run their SQL (``rows: null``) are checked when they are created (a query that
cannot run ends FAILED with AMC-like validation errors; see `service`). Their result is computed
by one worker thread once the execution starts RUNNING (the first time anyone looks at it from
then on: a poll, a listing, a download); status polls never wait for it, they only hand it to
the worker and look whether it is done (two set lookups). An execution whose planned run time is
over but whose query is still running is reported RUNNING, as AMC would. A query that fails at
run time fails its execution with the reason. Results are cached as CSV parts under
``results/<execution id>/`` (a download computes them itself if they are missing, e.g. evicted).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from amc_reports.local.sandbox import synth
from amc_reports.local.sandbox.state import Execution

log = logging.getLogger("amc_reports.local.sandbox")

COMPLETE_MARKER = ".complete"


def query_inputs(execution: Execution) -> tuple[Any, Any, dict[str, Any]]:
    """(window, data settings, parameter values) of an execution's query."""
    from amc_reports.local.sandbox import query

    window = query.Window.parse(execution.window_start, execution.window_end, execution.time_zone)
    as_of = datetime.fromtimestamp(execution.data_as_of or execution.created_at, UTC)
    data = query.DataSettings(
        instance_id=execution.instance_id,
        impressions_per_day=execution.impressions_per_day,
        data_as_of=as_of,
        marketplace_id=execution.marketplace_id or "ATVPDKIKX0DER",
    )
    return window, data, {**execution.parameter_defaults, **execution.parameter_values}


def run_execution(
    execution: Execution,
    cancelled: Callable[[], bool] = lambda: False,
    limits: Any = None,
) -> tuple[list[str], list[list[str]]]:
    """The CSV header and rows of an execution's query; raises `AmcSqlError`, or
    `query.LimitExceeded` past ``limits`` (a `query.Limits`; None: the defaults)."""
    from amc_reports.local.sandbox import query

    window, data, parameters = query_inputs(execution)
    prepared = query.check(query.prepare(execution.sql, window, parameters))
    result = query.run(
        prepared,
        window,
        data,
        discriminator_column=execution.filtered_metrics_column,
        user_count_column=execution.user_count_column,
        threads=1,  # leave the other core to the requests being served meanwhile
        limits=limits or query.Limits(),
        cancelled=cancelled,
    )
    rows = [[csv_value(v) for v in row] for row in result.rows]
    if not prepared.tree.args.get("order"):
        rows.sort()  # no ORDER BY: a stable order, so that identical inputs give identical bytes
    return [c.name for c in result.columns], rows


def csv_value(value: Any) -> str:
    """A value as AMC writes it in CSV results."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def write_parts(
    execution: Execution, directory: Path, columns: list[str], rows: list[list[str]]
) -> None:
    """Split rows evenly over the execution's parts, each with the header; apply CSV faults."""
    directory.mkdir(parents=True, exist_ok=True)
    parts = max(1, execution.parts)
    base, extra = divmod(len(rows), parts)
    first = 0
    for part in range(parts):
        count = base + (1 if part < extra else 0)
        chunk = rows[first : first + count]
        first += count
        malformed = len(chunk) // 2 if execution.csv_fault == "malformed" and part == 0 else None
        path = directory / f"part-{part:05d}.csv"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        synth.write_chunks(
            synth.csv_chunks(columns, chunk, malformed_at=malformed if chunk else None),
            tmp,
            truncate=execution.csv_fault == "truncated" and part == parts - 1,
            empty=execution.csv_fault == "empty",
        )
        os.replace(tmp, path)
    (directory / COMPLETE_MARKER).write_text("", encoding="utf-8")


class SqlRuns:
    """The worker that runs executions' queries, and which ones are still pending."""

    def __init__(
        self,
        root: Path,
        on_failure: Callable[[Execution, str], None],
        exists: Callable[[str], bool],
        limits: Callable[[Execution], Any] = lambda execution: None,
    ) -> None:
        self.root = Path(root)
        self._limits = limits  # an execution's `query.Limits` (None: the defaults)
        self.pending: set[str] = set()
        self.completed: set[str] = set()
        self._on_failure = on_failure
        self._exists = exists
        self._queue: queue.Queue[Execution | None] = queue.Queue()  # None: stop
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    def directory(self, execution: Execution) -> Path:
        return self.root / execution.id

    def is_complete(self, execution: Execution) -> bool:
        return (self.directory(execution) / COMPLETE_MARKER).exists()

    def done(self, execution: Execution) -> bool:
        """Whether the result is computed; else hand it to the worker (idempotent, cheap)."""
        if execution.id in self.completed:
            return True
        if execution.id in self.pending:
            return False
        if self.is_complete(execution):  # computed before a restart: one look at the disk
            self.completed.add(execution.id)
            return True
        self.submit(execution)
        return False

    def submit(self, execution: Execution) -> None:
        self.pending.add(execution.id)
        self._queue.put(execution)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="sandbox-sql", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: the running query is interrupted, the queued ones are dropped."""
        self._closing = True
        self.clear()
        if self._thread is not None and self._thread.is_alive():
            from amc_reports.local.sandbox import query

            query.interrupt_all()
            self._queue.put(None)  # wakes the worker up
            self._thread.join(timeout)

    def clear(self) -> None:
        """Forget pending and completed runs (after a reset)."""
        self.pending.clear()
        self.completed.clear()
        with self._queue.mutex:
            self._queue.queue.clear()

    def materialize(self, execution: Execution) -> None:
        """Compute and write the result parts unless they are complete (blocking, thread-safe)."""
        with self._locks_lock:
            lock = self._locks.setdefault(execution.id, threading.Lock())
        with lock:
            directory = self.directory(execution)
            parts = [directory / f"part-{p:05d}.csv" for p in range(max(1, execution.parts))]
            if self.is_complete(execution) and all(p.exists() for p in parts):
                return
            columns, rows = run_execution(execution, lambda: self._closing, self._limits(execution))
            if self._exists(execution.id):
                write_parts(execution, directory, columns, rows)

    def _work(self) -> None:
        from amc_reports.amc_sql import AmcSqlError
        from amc_reports.local.sandbox.query import LimitExceeded, QueryInterrupted

        for execution in self._drain():
            if self._closing or execution is None:
                return
            try:
                if self._exists(execution.id):
                    self.materialize(execution)
                    self.completed.add(execution.id)
            except QueryInterrupted:
                return  # shutting down: the result is computed again after a restart
            except LimitExceeded as exc:
                log.info("execution %s: %s", execution.id, exc)
                if self._exists(execution.id):
                    self._on_failure(execution, str(exc))
            except AmcSqlError as exc:
                log.info("execution %s: the query failed: %s", execution.id, exc)
                if self._exists(execution.id):
                    self._on_failure(execution, f"Query execution failed: {exc}")
            except Exception:  # noqa: BLE001 - a bug here must not kill the worker
                log.exception("execution %s: computing the result failed", execution.id)
                if self._exists(execution.id):
                    self._on_failure(execution, "Query execution failed: internal error")
            finally:
                self.pending.discard(execution.id)

    def _drain(self) -> Iterator[Execution | None]:
        while True:
            yield self._queue.get()
