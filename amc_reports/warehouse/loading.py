"""`replace_week_results`: stream one week's CSV into its report table, atomically.

1. The source is read in 1 MiB chunks, hashed (SHA-256) and spooled to an anonymous temp file as it
   is read, so memory stays flat whatever the size. Column types are inferred from the first 256 KiB
   (at least the header and one complete row).
2. The table is created / evolved to fit (`results.ensure_table`, own short transaction).
3. One transaction: advisory lock on (table, week); lineage settings set transaction-locally; the
   week's old rows deleted; `COPY ... FROM STDIN (FORMAT csv, HEADER true)` fed the raw bytes (the
   rest of the source streams straight through: hashed, spooled and sent chunk by chunk); the week
   row marked completed and the execution row given its row count and size. Commit. Readers see the
   old week or the new one. The week row's `result_columns` (and `LoadResult.columns`) list the
   CSV's columns in header order, as stored names, with the table's type at load time (a column that
   a later week widens keeps its old type in the earlier weeks' rows: that is what the
   schema-stability check compares).
4. If COPY rejects a value the sample did not predict (class 22 data error), the transaction is
   rolled back, the whole spooled file is scanned to infer every column, the table is widened, and
   the load is retried from the spool (at most 3 times; an error no widening can fix is raised).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

import psycopg
from psycopg import sql

from amc_reports.warehouse import inference, results
from amc_reports.warehouse.identifiers import column_names_for_header
from amc_reports.warehouse.locks import advisory_key
from amc_reports.warehouse.rows import WeekKey
from amc_reports.warehouse.week_life import LoadedWeek, WeekLife

_log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
SAMPLE_BYTES = 256 << 10
MAX_ATTEMPTS = 3


class ResultLoadError(RuntimeError):
    """A week's CSV could not be stored; the week's previous rows are untouched."""


@dataclass(frozen=True)
class LoadResult:
    record_count: int
    checksum: str
    bytes: int
    seconds: float
    columns: list[tuple[str, str]]


def iter_chunks(source: BinaryIO | IO[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            chunk = read(CHUNK_BYTES)
            if not chunk:
                return
            yield bytes(chunk)
    else:
        for chunk in source:  # type: ignore[union-attr]
            if chunk:
                yield bytes(chunk)


class _Spool:
    """Hashes and spools every chunk that passes through it."""

    def __init__(self, chunks: Iterator[bytes], file: IO[bytes]) -> None:
        self._chunks = chunks
        self.file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.digest.update(chunk)
            self.file.write(chunk)
            self.size += len(chunk)
            yield chunk

    def drain(self) -> None:
        for _ in self:
            pass


def _parse_head(head: bytes, complete: bool) -> tuple[list[str] | None, list[list[str]]]:
    text = head.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return None, []
    inference.allow_large_fields()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    if not complete and parsed:
        parsed.pop()  # may be cut
    if not parsed:
        return None, []
    return parsed[0], parsed[1:]


def replace_week(
    *,
    connect: Callable[[], psycopg.Connection],
    schema: str,
    table: str,
    key: WeekKey,
    execution_id: uuid.UUID,
    amc_execution_id: str | None,
    source: BinaryIO | Iterable[bytes],
) -> LoadResult:
    """Replace the week's rows with the CSV's (see the module docstring)."""
    started = time.perf_counter()
    execution_id = uuid.UUID(str(execution_id))
    with connect() as conn:
        found = conn.execute(
            "SELECT 1 FROM workflow_executions WHERE id = %s", (execution_id,)
        ).fetchone()
    if found is None:
        raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
    load = _WeekLoad(
        connect=connect,
        schema=schema,
        table=table,
        key=key,
        execution_id=execution_id,
        amc_execution_id=amc_execution_id,
        started=started,
    )
    with tempfile.TemporaryFile(prefix="amc_reports_load_") as spool_file:
        spool = _Spool(iter_chunks(source), spool_file)
        return load.run(spool)


class _WeekLoad:
    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection],
        schema: str,
        table: str,
        key: WeekKey,
        execution_id: uuid.UUID,
        amc_execution_id: str | None,
        started: float,
    ) -> None:
        self.connect = connect
        self.schema = schema
        self.table = table
        self.key = key
        self.week_start = key.week_start
        self.execution_id = execution_id
        self.amc_execution_id = amc_execution_id
        self.started = started

    def run(self, spool: _Spool) -> LoadResult:
        stream = iter(spool)
        head, header, sample = self._read_head(stream)
        names = column_names_for_header(header) if header else []
        accumulator = inference.KindAccumulator(len(names))
        accumulator.add_rows(sample)
        kinds = accumulator.kinds
        del sample

        live: Iterator[bytes] | None = stream
        attempt = 0
        while True:
            attempt += 1
            shape = self._ensure_table(names, kinds)
            try:
                if live is not None:
                    count = self._transaction(names, shape, head, live, spool)
                else:
                    count = self._transaction(names, shape, b"", _replay(spool.file), spool)
                break
            except psycopg.DataError as exc:  # SQLSTATE class 22: a value did not fit
                if live is not None:
                    spool.drain()  # the rest of the source: for the checksum and the retry
                    live = None
                failure = _describe_copy_error(exc, self.table)
                if attempt >= MAX_ATTEMPTS:
                    raise ResultLoadError(failure) from None
                spool.file.flush()
                spool.file.seek(0)
                full = inference.infer_from_binary(spool.file, len(names))  # type: ignore[arg-type]
                merged = [inference.join_kinds(a, b) for a, b in zip(kinds, full, strict=True)]
                with self.connect() as conn:
                    after, _ = results.ensure_table(conn, self.schema, self.table, names, merged)
                if after.types == shape.types:
                    raise ResultLoadError(failure) from None  # no type change can fix it
                _log.warning("%s; widened the table, loading again from the spooled file", failure)
                kinds = merged

        seconds = time.perf_counter() - self.started
        _log.info(
            "loaded %d rows (%d bytes) into %s for week %s in %.2f s",
            count,
            spool.size,
            sql.Identifier(self.schema, self.table).as_string(),
            self.week_start,
            seconds,
        )
        return LoadResult(
            record_count=count,
            checksum=spool.digest.hexdigest(),
            bytes=spool.size,
            seconds=seconds,
            columns=self._columns(names, shape),
        )

    @staticmethod
    def _read_head(
        stream: Iterator[bytes],
    ) -> tuple[bytes, list[str] | None, list[list[str]]]:
        """The first chunk(s) of the source, the header, and the sample rows to infer types from.

        The sample is the first `SAMPLE_BYTES` (more when a row is longer), without a cut last row.
        """
        parts: list[bytes] = []
        size = 0
        limit = SAMPLE_BYTES
        while True:
            chunk = next(stream, None)
            complete = chunk is None
            if chunk is not None:
                parts.append(chunk)
                size += len(chunk)
            if complete or size >= limit:
                head = b"".join(parts)
                parts = [head]
                cut = len(head) > limit
                header, sample = _parse_head(head[:limit] if cut else head, complete and not cut)
                if sample or (complete and not cut):
                    return head, header, sample
                limit *= 2  # not even one complete row yet: look further

    def _ensure_table(self, names: list[str], kinds: list[str | None]) -> results.TableShape:
        with self.connect() as conn:
            if not names:
                return results.read_shape(conn, self.schema, self.table)
            shape, _ = results.ensure_table(conn, self.schema, self.table, names, kinds)
            return shape

    @staticmethod
    def _columns(names: list[str], shape: results.TableShape) -> list[tuple[str, str]]:
        return [(name, shape.types.get(name, inference.TEXT)) for name in names]

    def _transaction(
        self,
        names: list[str],
        shape: results.TableShape,
        head: bytes,
        body: Iterator[bytes],
        spool: _Spool,
    ) -> int:
        ident = sql.Identifier(self.schema, self.table)
        week_key = advisory_key("week", self.schema, self.table, self.week_start)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (week_key,))
            cur.execute(
                "SELECT set_config(%s, %s, true), set_config(%s, %s, true),"
                " set_config('TimeZone', 'UTC', true)",
                (
                    results.EXECUTION_SETTING,
                    str(self.execution_id),
                    results.WEEK_SETTING,
                    self.week_start.isoformat(),
                ),
            )
            deleted = 0
            if shape.exists:
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE week_start_date = %s").format(ident),
                    (self.week_start,),
                )
                deleted = cur.rowcount
            count = 0
            if names:
                with cur.copy(results.copy_statement(self.schema, self.table, names, shape)) as cp:
                    if head:
                        cp.write(head)
                    for chunk in body:
                        cp.write(chunk)
                count = max(cur.rowcount, 0)
            else:
                for _ in body:
                    pass  # zero bytes or blank lines: nothing to load
            # The source is fully read now: size and checksum are final.
            loaded = LoadedWeek(
                record_count=count,
                checksum=spool.digest.hexdigest(),
                bytes=spool.size,
                columns=self._columns(names, shape),
            )
            WeekLife.complete(
                cur,
                self.key,
                self.execution_id,
                self.amc_execution_id,
                loaded,
                started=self.started,
            )
            if deleted:
                _log.info(
                    "replaced %d old rows of week %s in %s", deleted, self.week_start, self.table
                )
        return count


def _replay(file: IO[bytes]) -> Iterator[bytes]:
    file.flush()
    file.seek(0)
    while True:
        chunk = file.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def _describe_copy_error(exc: psycopg.Error, table: str) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    context = exc.diag.context
    where = f" ({context.strip()})" if context else ""
    return f"COPY into results table {table!r} failed: {primary}{where}"
