"""`replace_week_results`: stream one week's CSV into its report table, atomically.

A result of zero bytes (not even a header) is refused: the week keeps its rows. A header without
rows is a legitimate empty week.

1. The source is read in 1 MiB chunks, hashed (SHA-256) and spooled to an anonymous temp file as it
   is read, so memory stays flat whatever the size. Column types are inferred from the first 256 KiB
   (at least the header and one complete row).
2. The shape the table needs is planned (`results.plan_change`: read only).
3. One transaction: advisory lock on (table, instance, week); a new table for the week's partition
   (`partitions.create_week_table`: instance and week as defaults) filled by `COPY ... FROM STDIN
   (FORMAT csv, HEADER true, FREEZE)` fed the raw bytes (the rest of the source streams straight
   through: hashed, spooled and sent chunk by chunk, read a few chunks ahead by a thread of its
   own, `read_ahead`, so that reading overlaps COPY), then stamped with the execution id
   (`partitions.stamp_execution`: a column default every row reads, not written on each); if
   the week had rows, the restatement is recorded as far as it is known without reading a table
   (row counts; a result byte for byte the one stored, with the same column types, is known
   unchanged by its checksum); under the table's DDL lock
   the results table is created / given its new columns and types (`results.evolve`: in this
   transaction, so a refused load leaves the table as it was) and the old partition moves to the
   history schema; the new table is attached as the week's partition; the week row is marked
   completed and the execution row given its row count and size (`week_life.WeekInLoad.complete`,
   which first checks that the loading run still holds the week's claim: fencing); the versions
   recorded (`versions.WeekVersions`: the new one current, the one it replaced history). Commit.
   Readers see the old week or the new one. Then, in a transaction of its own under the week's
   lock (`_after_commit`), a re-collection is compared with the version it replaced: the
   measures' sums of both (a version's recorded sums, else measured: a first collection is not
   summed until then) and the rows by key (`WeekVersions.complete_restatement`, attached to the
   version and the LoadResult), and history beyond the retention is dropped; a failure there is
   logged, the week stays stored. So a first collection does not read its rows back, and a
   re-collection commits as fast as a first collection.
   The week row's `result_columns` (and `LoadResult.columns`) list the CSV's columns in header
   order, as stored names, with the table's type at load time (a column that a later week widens
   keeps its old type in the earlier weeks' rows: that is what the schema-stability check compares).
4. If COPY rejects a value the sample did not predict (class 22 data error), the transaction is
   rolled back, the whole spooled file is scanned to infer every column, the planned shape widened,
   and the load is retried from the spool (at most 3 times; an error no widening can fix is raised).
5. A transaction Postgres rolls back (a deadlock, a serialization failure) or whose connection
   breaks before it commits is run again from the spool (`week_life.retrying`, bounded by
   `DatabaseRetry`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import date
from typing import IO, Any, BinaryIO

import psycopg
from psycopg import sql

from amc_reports.warehouse import inference, partitions, restatement, results
from amc_reports.warehouse.identifiers import column_names_for_header
from amc_reports.warehouse.locks import advisory_key
from amc_reports.warehouse.migrate import history_schema_for
from amc_reports.warehouse.read_ahead import read_ahead
from amc_reports.warehouse.rows import WeekKey
from amc_reports.warehouse.versions import HistoryRetention, StoredVersion, WeekVersions
from amc_reports.warehouse.week_life import (
    DatabaseRetry,
    LoadedWeek,
    WeekInLoad,
    broke_before_commit,
    retrying,
    transaction,
)

_log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
SAMPLE_BYTES = 256 << 10
MAX_ATTEMPTS = 3


class ResultLoadError(RuntimeError):
    """A week's CSV could not be stored; the week's previous rows are untouched."""


class ShapeChanged(RuntimeError):
    """Another load changed the results table's columns while this one filled its week: load
    again from the spooled file."""


@dataclass(frozen=True)
class LoadOptions:
    """What the report says about storing its weeks."""

    key_columns: Sequence[str] | None = None  # None: decided from the columns (restatement)
    measures: Sequence[str] | None = None  # None: decided from the columns (restatement)
    retention: HistoryRetention = field(default_factory=HistoryRetention)


@dataclass(frozen=True)
class LoadResult:
    """What a load stored: the week's values, and what its transaction wrote about them (so that
    nothing is read back)."""

    record_count: int
    checksum: str
    bytes: int
    seconds: float  # until the load committed (the versions are compared after it)
    columns: list[tuple[str, str]]
    # The completed execution's: collected before the week was final.
    provisional: bool = False
    # What changed from the version it replaced (`restatement.summarize`); None for a first one.
    restatement: dict[str, Any] | None = None
    # The completed execution's AMC: 'live', 'sandbox' or 'unknown', and its API host.
    amc_source: str | None = None
    amc_api_host: str | None = None


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


class _Source:
    """The CSV for one transaction after another: the live source (its first chunk(s) read
    already) the first time, the spooled file once the live source was drained."""

    def __init__(self, live: Iterator[bytes], head: bytes, spool: _Spool) -> None:
        self._live: Iterator[bytes] | None = live
        self._head = head
        self.spool = spool

    def next_pass(self) -> tuple[bytes, Iterator[bytes]]:
        """The bytes to send first, and the rest."""
        if self._live is not None:
            return self._head, self._live
        return b"", _replay(self.spool.file)

    def rewind(self) -> None:
        """Read the rest of the live source (for the checksum); the next pass is the spool's."""
        if self._live is not None:
            self.spool.drain()
            self._live = None


def _parse_head(head: bytes, complete: bool) -> tuple[list[str] | None, list[list[str]]]:
    # Bytes that are not UTF-8 are kept as surrogates: the header is checked for them (a value
    # with them is refused by COPY, naming its line).
    text = head.decode("utf-8-sig", errors="surrogateescape")
    if not text.strip():
        return None, []
    inference.allow_large_fields()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    if not complete and parsed:
        parsed.pop()  # may be cut
    if not parsed:
        return None, []
    return parsed[0], parsed[1:]


def replace_week(load: WeekLoad, source: BinaryIO | Iterable[bytes]) -> LoadResult:
    """Replace the week's rows with the CSV's (see the module docstring)."""
    with tempfile.TemporaryFile(prefix="amc_reports_load_") as spool_file:
        return load.run(_Spool(iter_chunks(source), spool_file))


@dataclass
class WeekLoad:
    """One load of a week's CSV into `schema.table` for an execution (run it once)."""

    connect: Callable[[], psycopg.Connection]
    schema: str
    table: str
    key: WeekKey
    execution_id: uuid.UUID
    amc_execution_id: str | None
    options: LoadOptions = field(default_factory=LoadOptions)
    started: float = field(default_factory=time.perf_counter)
    # The run that claimed the week and loads it: the load commits only while it holds the claim
    # (`week_life.ClaimLost`). None: a load outside any claim.
    run_id: str | None = None
    # A transaction that deadlocked (or whose connection broke before it committed) is loaded
    # again from the spooled file.
    retry: DatabaseRetry = field(default_factory=DatabaseRetry)
    # The connection opened ahead, or the one the shape was planned on, until the load's
    # transaction takes it.
    _idle: Future[psycopg.Connection] | None = field(default=None, init=False, repr=False)

    @property
    def week_start(self) -> date:
        return self.key.week_start

    def run(self, spool: _Spool) -> LoadResult:
        # The connection opens while the head of the source is read and its types inferred.
        self._idle = _opened_in_thread(self.connect)
        try:
            stream = iter(spool)
            head, header, sample = self._read_head(stream)
            if not header:
                raise ResultLoadError(
                    f"the result of {self.key.describe()} is empty: not even a header line "
                    f"({spool.size} bytes). The week's previous rows are kept."
                )
            _check_header(header, self.key.describe())
            names = column_names_for_header(header)
            accumulator = inference.KindAccumulator(len(names))
            accumulator.add_rows(sample)
            kinds = accumulator.kinds
            del sample
            stored, replaced = self._store(names, kinds, _Source(stream, head, spool))
        finally:
            self._close_idle()

        seconds = time.perf_counter() - self.started
        _log.info(
            "loaded %d rows (%d bytes) into %s for week %s in %.2f s",
            stored.record_count,
            spool.size,
            sql.Identifier(self.schema, self.table).as_string(),
            self.week_start,
            seconds,
        )
        return self._after_commit(replace(stored, seconds=seconds), replaced)

    def _store(
        self, names: list[str], kinds: list[str | None], source: _Source
    ) -> tuple[LoadResult, tuple[str, str] | None]:
        """The load's transaction, run again from the spooled file when the table's columns
        changed meanwhile or a value did not fit the planned types (widened)."""
        spool = source.spool
        attempt = 0
        while True:
            attempt += 1
            shape = self._planned_shape(names, kinds)
            try:
                return retrying(self.retry, f"load of {self.key.describe()}")(
                    self._attempt, names, kinds, shape, source
                )
            except ShapeChanged as exc:
                source.rewind()
                if attempt >= MAX_ATTEMPTS:
                    raise ResultLoadError(f"{exc}, {attempt} times; try again") from None
                _log.info("%s; loading again from the spooled file", exc)
            except psycopg.DataError as exc:  # SQLSTATE class 22: a value did not fit
                source.rewind()  # the rest of the source: for the checksum and the retry
                failure = _describe_copy_error(exc, self.table)
                if attempt >= MAX_ATTEMPTS:
                    raise ResultLoadError(failure) from None
                spool.file.flush()
                spool.file.seek(0)
                full = inference.infer_from_binary(spool.file, len(names))  # type: ignore[arg-type]
                merged = [inference.join_kinds(a, b) for a, b in zip(kinds, full, strict=True)]
                if self._planned_shape(names, merged).types == shape.types:
                    raise ResultLoadError(failure) from None  # no type change can fix it
                _log.warning("%s; widening the table, loading again from the spooled file", failure)
                kinds = merged

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

    def _planned_shape(self, names: list[str], kinds: list[str | None]) -> results.TableShape:
        """The shape planned in a transaction of its own, on the connection the load's
        transaction then takes (`_connection`)."""
        conn = self._connection()
        try:
            shape = results.plan_change(conn, self.schema, self.table, names, kinds).after
            conn.rollback()  # no lock held on the table afterwards
        except BaseException:
            conn.close()
            raise
        self._idle = _done(conn)
        return shape

    def _connection(self) -> psycopg.Connection:
        """The connection opened ahead or left idle by the planning, else a new one."""
        idle, self._idle = self._idle, None
        if idle is not None:
            conn = idle.result()
            if not conn.closed:
                return conn
        return self.connect()

    def _close_idle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is None:
            return
        try:
            conn = idle.result()
        except Exception:  # noqa: BLE001 - the load ended for another reason: that one is raised
            return
        conn.close()

    def _keys_and_measures(self, shape: results.TableShape) -> tuple[list[str], list[str]]:
        """The restatement's key columns and the columns it sums (`restatement.key_columns_for`,
        `restatement.measure_columns`)."""
        columns = shape.data_columns()
        keys = restatement.key_columns_for(columns, self.options.key_columns)
        try:
            return keys, restatement.measure_columns(columns, keys, self.options.measures)
        except restatement.MissingMeasures as exc:
            raise ResultLoadError(
                f"{exc}: {self.key.describe()} is not stored, its previous rows are kept"
            ) from None

    @staticmethod
    def _columns(names: list[str], shape: results.TableShape) -> list[tuple[str, str]]:
        return [(name, shape.types.get(name, inference.TEXT)) for name in names]

    def _attempt(
        self,
        names: list[str],
        kinds: list[str | None],
        shape: results.TableShape,
        source: _Source,
    ) -> tuple[LoadResult, tuple[str, str] | None]:
        """One transaction from the source's next bytes; rewound when it may be run again."""
        head, body = source.next_pass()
        try:
            return self._transaction(names, kinds, shape, head, body, source.spool)
        except Exception as exc:
            if broke_before_commit(exc):
                source.rewind()
            raise

    def _transaction(
        self,
        names: list[str],
        kinds: list[str | None],
        shape: results.TableShape,
        head: bytes,
        body: Iterator[bytes],
        spool: _Spool,
    ) -> tuple[LoadResult, tuple[str, str] | None]:
        """The load's transaction: what it stored, and where the rows it replaced are when they
        are to be compared (`_after_commit`)."""
        key = self.key
        history = history_schema_for(self.schema)
        with transaction(self._connection) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._week_lock(),))
            cur.execute("SET LOCAL TimeZone = 'UTC'")  # naive timestamps in the CSV are UTC
            staged = partitions.staging_name(self.table)
            # The execution id is stamped once the rows are in (`stamp_execution`): not written
            # on every row.
            columns = [column for column in shape.columns() if column[0] != "execution_id"]
            partitions.create_week_table(cur, self.schema, staged, columns, key, None)
            copy = results.copy_statement(self.schema, staged, names, shape, freeze=True)
            # The source read ahead in a thread: reading, hashing and spooling it overlap COPY.
            with cur.copy(copy) as cp, read_ahead(body) as chunks:
                cp.write(head)
                for chunk in chunks:
                    cp.write(chunk)
            count = max(cur.rowcount, 0)
            partitions.stamp_execution(cur, self.schema, staged, self.execution_id)
            # The source is fully read now: size and checksum are final.
            loaded = LoadedWeek(
                record_count=count,
                checksum=spool.digest.hexdigest(),
                bytes=spool.size,
                columns=self._columns(names, shape),
            )
            # Refused here when the report names measures its result lacks.
            keys, numeric = self._keys_and_measures(shape)
            if partitions.current_partition(cur, self.schema, self.table, key):
                version = self._replace_current(cur, keys, numeric, loaded, history)
            else:  # a first collection: its sums are measured when a re-collection needs them
                version = StoredVersion(table_schema=self.schema, table_name="", sums={})
            # The swap: under the table's DDL lock (no column change can slip in between the
            # shape this table was built from and the attach), the table given the columns and
            # types the week needs (in this transaction: a refused load changes nothing), then
            # the results table's own locks, taken last and held for the few statements left.
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s)", (results.ddl_lock(self.schema, self.table),)
            )
            change = results.plan_change(conn, self.schema, self.table, names, kinds)
            now = results.evolve(conn, change)
            if not partitions.conform_week_table(cur, self.schema, staged, shape.types, now.types):
                raise ShapeChanged(f"the columns of {self.table} changed during the load")
            if version.history_schema is not None:
                kept = partitions.detach_to_history(
                    cur, self.schema, self.table, history, key, version.previous_execution_id
                )
                version = replace(version, history_table=kept)
                _log.info(
                    "the replaced rows of %s are kept as %s.%s", key.describe(), history, kept
                )
            elif partitions.current_partition(cur, self.schema, self.table, key):
                partitions.drop_week(cur, self.schema, self.table, key)  # the same execution again
            name = partitions.attach_week(cur, self.schema, self.table, staged, key)
            version = replace(version, table_schema=self.schema, table_name=name)
            completed = WeekInLoad(cur, key).complete(
                self.execution_id,
                self.amc_execution_id,
                loaded,
                started=self.started,
                run_id=self.run_id,
            )
            versions = WeekVersions(cur, key)
            versions.record(
                self.execution_id,
                version,
                row_count=count,
                provisional=completed.provisional,
            )
        result = LoadResult(
            record_count=count,
            checksum=loaded.checksum,
            bytes=loaded.bytes,
            seconds=0.0,
            columns=loaded.columns,
            provisional=completed.provisional,
            restatement=version.restatement,
            amc_source=completed.amc_source,
            amc_api_host=completed.amc_api_host,
        )
        replaced = (version.history_schema or "", version.history_table or "")
        return result, replaced if version.to_complete else None

    def _after_commit(self, result: LoadResult, replaced: tuple[str, str] | None) -> LoadResult:
        """Once the week's rows are committed, in a transaction of its own under the week's lock:
        the restatement completed (`replaced`: where the load put the rows it replaced; None:
        nothing to complete): the measures' sums of both versions and the rows compared by key
        (`WeekVersions.complete_restatement`), recorded with the version; history beyond the
        retention dropped. The week is stored whatever happens here: a failure is logged, not
        raised (the restatement stays incomplete, and is completed by whoever reads it:
        `versions.restatement_of`; the next load of the week applies the retention)."""
        if replaced is None and self.options.retention.keeps_everything:
            return result
        what = f"after the load of {self.key.describe()}"
        try:
            changes = retrying(self.retry, what)(self._complete, replaced)
        except Exception as exc:  # noqa: BLE001 - the load committed: this only adds records
            _log.warning(
                "%s: comparing the versions (sums, rows by key) or applying the history "
                "retention failed (%s: %s); the week's rows are stored",
                what,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )
            return result
        return replace(result, restatement=changes) if changes is not None else result

    def _complete(self, replaced: tuple[str, str] | None) -> dict[str, Any] | None:
        with transaction(self.connect) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._week_lock(),))
            versions = WeekVersions(cur, self.key)
            changes = (
                versions.complete_restatement(self.execution_id, replaced) if replaced else None
            )
            versions.drop_expired(self.options.retention)
        return changes

    def _week_lock(self) -> int:
        """The advisory lock a load of the week holds (one load of a week at a time)."""
        key = self.key
        return advisory_key("week", self.schema, self.table, key.instance, key.week_start)

    def _replace_current(
        self,
        cur: psycopg.Cursor[Any],
        keys: list[str],
        numeric: list[str],
        loaded: LoadedWeek,
        history: str,
    ) -> StoredVersion:
        """The week has rows already: the version that replaces them (they move to history at
        the swap), with what the transaction knows of the restatement without reading a table.
        The rest (the measures' sums, the rows compared by key) follows the commit (`_complete`).

        A result byte for byte the one stored (its checksum), stored with the same column types,
        holds the same rows: the rows are known unchanged, and with the sums the stored version
        recorded, so are the sums."""
        versions = WeekVersions(cur, self.key)
        previous = versions.current()
        if previous is not None and previous.execution_id == self.execution_id:
            # The same execution's result again (a retried load): nothing to keep or compare.
            return StoredVersion(
                table_schema=self.schema,
                table_name="",
                sums=previous.sums,
                previous_execution_id=previous.previous_execution_id,
                restatement=previous.restatement,
            )
        unchanged = (
            previous is not None
            and previous.row_count == loaded.record_count
            and versions.stored_result() == (loaded.checksum, loaded.columns)
        )
        record = restatement.pending(
            previous_execution_id=str(previous.execution_id) if previous else "",
            previous_provisional=bool(previous and previous.provisional),
            # No version row before the week's partition (a warehouse older than versions):
            # its rows are counted with its sums after the commit.
            rows=(previous.row_count if previous else None, loaded.record_count),
            keys=keys,
            measures=numeric,
        )
        sums: dict[str, Any] = {}
        if unchanged:
            assert previous is not None
            record.update(restatement.row_changes(restatement.KeyDiff.NONE if keys else None))
            record["same_result"] = True  # its sums are those of the version it replaces
            if set(numeric) <= set(previous.sums):
                sums = {name: previous.sums[name] for name in numeric}
                record.update(restatement.sum_changes(sums, sums))
        return StoredVersion(
            table_schema=self.schema,
            table_name="",
            sums=sums,
            previous_execution_id=previous.execution_id if previous else None,
            history_schema=history,
            restatement=record,
            to_complete=restatement.incomplete(record),
        )


def _opened_in_thread(connect: Callable[[], psycopg.Connection]) -> Future[psycopg.Connection]:
    """`connect()` run in a thread of its own: its connection (or error) once it is done."""
    opened: Future[psycopg.Connection] = Future()

    def open_connection() -> None:
        try:
            opened.set_result(connect())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the connection
            opened.set_exception(exc)

    threading.Thread(target=open_connection, name="amc-reports-connect", daemon=True).start()
    return opened


def _done(conn: psycopg.Connection) -> Future[psycopg.Connection]:
    done: Future[psycopg.Connection] = Future()
    done.set_result(conn)
    return done


def _check_header(header: list[str], week: str) -> None:
    """Refuse a header Postgres cannot store as column names: bytes that are not UTF-8, NUL."""
    for position, raw in enumerate(header, start=1):
        if "\x00" in raw or any("\udc80" <= char <= "\udcff" for char in raw):
            shown = raw.encode("utf-8", "surrogateescape")[:200]
            raise ResultLoadError(
                f"the result of {week} has a column name that is not valid UTF-8 text: column "
                f"{position} of the header, {shown!r}. The week's previous rows and the table's "
                "columns are kept."
            )


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
