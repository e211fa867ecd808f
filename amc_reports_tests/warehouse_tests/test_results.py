"""replace_week_results: streamed COPY, atomic replacement, schema evolution, hostile names."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import uuid
from datetime import date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from amc_reports.warehouse import ResultLoadError, Warehouse
from amc_reports.warehouse.identifiers import MAX_IDENTIFIER_BYTES, pg_identifier
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    WEEK,
    csv_bytes,
    new_execution,
    replace_week_results,
)

REPORT = "weekly_campaign"


def _rows(warehouse: Warehouse, report: str, columns: str = "", where: str = "") -> list[tuple]:
    """Stored rows: `columns`, else every column but `amc_instance` (checked to be the tests')."""
    table = sql.SQL(warehouse.results_table(report))
    with warehouse.connect() as conn:
        if not columns:
            instances = conn.execute(
                sql.SQL("SELECT DISTINCT amc_instance FROM {}").format(table)
            ).fetchall()
            assert instances in ([], [(INSTANCE,)]), instances
            names = [name for name, _ in warehouse.table_columns(report) if name != "amc_instance"]
            columns = ", ".join(sql.Identifier(n).as_string(conn) for n in names)
        return conn.execute(
            sql.SQL("SELECT " + columns + " FROM {} " + where + " ORDER BY 1, 2, 3").format(table)
        ).fetchall()


def _types(warehouse: Warehouse, report: str) -> dict[str, str]:
    return dict(warehouse.table_columns(report))


def test_load_marks_the_week_completed_with_lineage(warehouse: Warehouse):
    execution_id = new_execution(warehouse, amc_execution_id="amc-1")
    data = csv_bytes(
        ["campaign", "impressions", "spend", "day", "seen_at", "seen_at_utc", "is_new"],
        [
            [
                "Summer; DROP",
                10,
                "1.50",
                "2024-01-07",
                "2024-01-07 10:00:00",
                "2024-01-07T10:00Z",
                "true",
            ],
            ['Winter "x"', "", "", "2024-01-08", "", "2024-01-07T10:00:00+05:30", "false"],
        ],
    )
    result = replace_week_results(warehouse, REPORT, WEEK, execution_id, io.BytesIO(data))
    assert result.record_count == 2
    assert result.bytes == len(data)
    assert result.checksum == hashlib.sha256(data).hexdigest()
    assert result.seconds >= 0
    assert result.columns == [
        ("campaign", "text"),
        ("impressions", "bigint"),
        ("spend", "double precision"),
        ("day", "date"),
        ("seen_at", "timestamp without time zone"),
        ("seen_at_utc", "timestamp with time zone"),
        ("is_new", "boolean"),
    ]
    week = warehouse.get_week(REPORT, WEEK)
    assert week.status == "completed"
    assert (week.execution_id, week.amc_execution_id) == (execution_id, "amc-1")
    assert (week.record_count, week.data_checksum) == (2, result.checksum)
    assert week.result_columns == result.columns
    assert week.execution_time_seconds is not None and week.completed_at is not None
    execution = warehouse.get_execution(execution_id)
    assert (execution.row_count, execution.bytes) == (2, len(data))

    rows = _rows(warehouse, REPORT)
    assert {r[0] for r in rows} == {execution_id}
    assert {r[1] for r in rows} == {WEEK}
    blank = next(r for r in rows if r[2].startswith("Winter"))
    assert blank[3] is None and blank[4] is None  # empty (even quoted) numbers are NULL
    full = next(r for r in rows if r[2].startswith("Summer"))
    assert full[3:] == (
        10,
        1.5,
        date(2024, 1, 7),
        datetime(2024, 1, 7, 10, 0),
        datetime.fromisoformat("2024-01-07T10:00:00+00:00"),
        True,
    )
    assert warehouse.count_week_rows(REPORT, WEEK) == {execution_id: 2}


def test_the_execution_id_is_stamped_on_the_week_not_written_on_each_row(warehouse: Warehouse):
    """The load adds `execution_id` to the week's filled table with the execution as its default
    (Postgres' missing value): every row reads it, through the results table, the partition and,
    once replaced, the history table; a row of another execution written later is refused."""
    first = new_execution(warehouse, amc_execution_id="amc-1")
    data = csv_bytes(["campaign", "impressions"], [["a", 1], ["b", 2], ["c", 3]])
    replace_week_results(warehouse, REPORT, WEEK, first, io.BytesIO(data))
    schema = warehouse.results_schema
    partition = warehouse.list_versions(REPORT)[0].table_name
    with warehouse.connect() as conn:
        stamped = conn.execute(
            "SELECT a.atthasmissing, a.attnotnull FROM pg_attribute a"
            " WHERE a.attrelid = %s::regclass AND a.attname = 'execution_id'",
            (sql.Identifier(schema, partition).as_string(conn),),
        ).fetchone()
        assert stamped == (True, True)  # read from the catalog, not stored on each row
        assert conn.execute(
            sql.SQL("SELECT DISTINCT execution_id FROM {}").format(
                sql.Identifier(schema, partition)
            )
        ).fetchall() == [(first,)]
        with pytest.raises(psycopg.errors.CheckViolation, match="amc_reports_lineage_execution"):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (execution_id, week_start_date, amc_instance, campaign)"
                    " VALUES (%s, %s, %s, 'z')"
                ).format(sql.Identifier(schema, partition)),
                (uuid.uuid4(), WEEK, INSTANCE),
            )
    assert {row[0] for row in _rows(warehouse, REPORT)} == {first}

    second = new_execution(warehouse, amc_execution_id="amc-2")
    replace_week_results(warehouse, REPORT, WEEK, second, io.BytesIO(data.replace(b"3", b"4")))
    assert {row[0] for row in _rows(warehouse, REPORT)} == {second}
    kept = next(v for v in warehouse.list_versions(REPORT) if v.execution_id == first)
    with warehouse.connect() as conn:
        assert conn.execute(
            sql.SQL("SELECT DISTINCT execution_id, count(*) FROM {} GROUP BY 1").format(
                sql.Identifier(kept.table_schema, kept.table_name)
            )
        ).fetchall() == [(first, 3)]


def test_repeat_load_is_idempotent_and_replaces(warehouse: Warehouse):
    first = new_execution(warehouse, amc_execution_id="amc-a")
    data = csv_bytes(["id", "value"], [[i, i * 2] for i in range(100)])
    replace_week_results(warehouse, REPORT, WEEK, first, [data])
    again = replace_week_results(warehouse, REPORT, WEEK, first, [data])
    assert again.record_count == 100
    assert warehouse.count_week_rows(REPORT, WEEK) == {first: 100}

    second = new_execution(warehouse, amc_execution_id="amc-b")
    smaller = csv_bytes(["id", "value"], [[i, i] for i in range(40)])
    replace_week_results(warehouse, REPORT, WEEK, second, [smaller])
    assert warehouse.count_week_rows(REPORT, WEEK) == {second: 40}
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.execution_id, week.amc_execution_id, week.record_count) == (second, "amc-b", 40)

    other_week = WEEK + timedelta(days=7)
    third = new_execution(warehouse, week=other_week, amc_execution_id="amc-c")
    replace_week_results(warehouse, REPORT, other_week, third, [data])
    assert warehouse.count_week_rows(REPORT, WEEK) == {second: 40}  # other weeks untouched
    assert warehouse.count_week_rows(REPORT, other_week) == {third: 100}


def test_a_result_without_a_header_is_refused_and_a_header_alone_is_an_empty_week(
    warehouse: Warehouse,
):
    execution_id = new_execution(warehouse, amc_execution_id="amc-e")
    replace_week_results(warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a", "b"], [[1, 2]])])

    retry = new_execution(warehouse)
    for nothing in (io.BytesIO(b""), [b"\n\n"]):
        with pytest.raises(ResultLoadError, match="empty: not even a header"):
            replace_week_results(warehouse, REPORT, WEEK, retry, nothing)
    # Nothing lost: the week keeps its rows and its execution.
    assert warehouse.count_week_rows(REPORT, WEEK) == {execution_id: 1}
    week = warehouse.get_week(REPORT, WEEK)
    assert (week.status, week.execution_id) == ("completed", execution_id)

    other = new_execution(warehouse, report="header_only", amc_execution_id="amc-g")
    header_only = replace_week_results(
        warehouse, "header_only", WEEK, other, [b"campaign,impressions\r\n"]
    )
    assert header_only.record_count == 0
    assert header_only.columns == [("campaign", "text"), ("impressions", "text")]
    week = warehouse.get_week("header_only", WEEK)
    assert (week.status, week.record_count) == ("completed", 0)


def test_all_blank_column_takes_the_type_of_its_first_values(warehouse: Warehouse):
    execution_id = new_execution(warehouse)
    replace_week_results(
        warehouse, REPORT, WEEK, execution_id, [csv_bytes(["a", "conversions"], [[1, ""], [2, ""]])]
    )
    assert _types(warehouse, REPORT)["conversions"] == "text"
    later = WEEK + timedelta(days=7)
    second = new_execution(warehouse, week=later)
    replace_week_results(
        warehouse, REPORT, later, second, [csv_bytes(["a", "conversions"], [[1, 5], [2, ""]])]
    )
    assert _types(warehouse, REPORT)["conversions"] == "bigint"
    # Once real text is stored, a text column stays text.
    third_week = later + timedelta(days=7)
    third = new_execution(warehouse, week=third_week)
    replace_week_results(
        warehouse, REPORT, third_week, third, [csv_bytes(["a", "label"], [[1, ""], [2, ""]])]
    )
    fourth = new_execution(warehouse, week=third_week)
    replace_week_results(
        warehouse, REPORT, third_week, fourth, [csv_bytes(["a", "label"], [[1, "x"]])]
    )
    replace_week_results(warehouse, REPORT, later, second, [csv_bytes(["label"], [[7]])])
    assert _types(warehouse, REPORT)["label"] == "text"


def test_schema_evolution_adds_and_widens_never_drops(warehouse: Warehouse):
    weeks = [WEEK + timedelta(days=7 * i) for i in range(4)]
    header = ["id", "amount", "day", "flag"]
    loads = [
        (header, [[1, 10, "2024-01-07", "true"]]),
        (header + ["extra"], [[2, "1.5", "2024-01-08 10:30:00", "false", "new"]]),
        (header, [[3, "n/a", "2024-01-09 10:30:00+01:00", "maybe"]]),
        (["id"], [[4]]),
    ]
    expected = [
        {"amount": "bigint", "day": "date", "flag": "boolean"},
        {"amount": "double precision", "day": "timestamp without time zone", "extra": "text"},
        {"amount": "text", "day": "timestamp with time zone", "flag": "text"},
        {"amount": "text", "day": "timestamp with time zone", "flag": "text", "extra": "text"},
    ]
    for week, (columns, rows), types in zip(weeks, loads, expected, strict=True):
        execution_id = new_execution(warehouse, week=week)
        replace_week_results(warehouse, REPORT, week, execution_id, [csv_bytes(columns, rows)])
        current = _types(warehouse, REPORT)
        for name, kind in types.items():
            assert current[name] == kind, (week, name, current)
    assert list(_types(warehouse, REPORT)) == [
        "execution_id",
        "week_start_date",
        "amc_instance",
        "id",
        "amount",
        "day",
        "flag",
        "extra",
    ]
    values = _rows(warehouse, REPORT, "id, amount, day, flag, extra", "")
    assert values[0][:2] == (1, "10")  # converted in place, nothing lost
    assert values[1][:2] == (2, "1.5")
    assert values[3] == (4, None, None, None, None)
    # The week rows keep the types each week was stored with (for the schema-stability check).
    assert dict(warehouse.get_week(REPORT, weeks[0]).result_columns)["amount"] == "bigint"
    assert dict(warehouse.get_week(REPORT, weeks[2]).result_columns)["amount"] == "text"
    assert warehouse.get_week(REPORT, weeks[3]).result_columns == [("id", "bigint")]


def test_values_beyond_the_sample_widen_and_retry(warehouse: Warehouse):
    rows = [[i, i % 97, "2024-01-07"] for i in range(120_000)]  # well over the 1 MiB sample
    rows.append([120_000, "3.25", "not a date"])
    data = csv_bytes(["id", "clicks", "day"], rows)
    assert len(data) > 2 * (1 << 20)
    execution_id = new_execution(warehouse)
    chunks = [data[i : i + 65_536] for i in range(0, len(data), 65_536)]
    result = replace_week_results(warehouse, REPORT, WEEK, execution_id, iter(chunks))
    assert result.record_count == len(rows)
    assert result.checksum == hashlib.sha256(data).hexdigest()
    assert result.bytes == len(data)
    types = _types(warehouse, REPORT)
    assert (types["clicks"], types["day"], types["id"]) == ("double precision", "text", "bigint")
    assert result.columns == [("id", "bigint"), ("clicks", "double precision"), ("day", "text")]
    assert warehouse.count_week_rows(REPORT, WEEK) == {execution_id: len(rows)}


def test_a_malformed_csv_fails_cleanly_and_keeps_the_old_week(warehouse: Warehouse):
    good = new_execution(warehouse)
    replace_week_results(warehouse, REPORT, WEEK, good, [csv_bytes(["a", "b"], [[1, 2]])])
    bad = new_execution(warehouse)
    with pytest.raises(ResultLoadError, match="COPY"):
        replace_week_results(warehouse, REPORT, WEEK, bad, [b"a,b\n1,2,3,4\n"])
    assert warehouse.count_week_rows(REPORT, WEEK) == {good: 1}
    assert warehouse.get_week(REPORT, WEEK).execution_id == good
    with pytest.raises(ValueError, match="no workflow_executions row"):
        replace_week_results(warehouse, REPORT, WEEK, uuid.uuid4(), [b"a\n1\n"])


def test_reserved_duplicate_and_blank_headers(warehouse: Warehouse):
    execution_id = new_execution(warehouse)
    data = b"execution_id,week_start_date,a,a,,A\nx,y,1,2,3,4\n"
    result = replace_week_results(warehouse, REPORT, WEEK, execution_id, [data])
    names = [name for name, _ in result.columns]
    assert names == ["csv_execution_id", "csv_week_start_date", "a", "a_2", "column_5", "A"]
    row = _rows(warehouse, REPORT)[0]
    assert row[:2] == (execution_id, WEEK)
    assert row[2:] == ("x", "y", 1, 2, 3, 4)


HOSTILE_REPORTS = [
    'weird"; DROP TABLE report_data_weeks; --',
    "ünïcødé 報告 💡",
    "r" * 100,
    "r" * 100 + "-second",  # same first 63 bytes as the previous one
    "Weekly Campaign",
    "weekly campaign",
]
HOSTILE_COLUMNS = [
    'col"quote',
    "semi;colon",
    "spaces and ) parens",
    "日本語の列",
    "c" * 100,
    "c" * 100 + "x",
    "Mixed Case",
    "mixed case",
]


def test_hostile_identifiers_are_quoted_and_truncated_safely(warehouse: Warehouse):
    for index, report in enumerate(HOSTILE_REPORTS):
        execution_id = new_execution(warehouse, report=report)
        data = csv_bytes(HOSTILE_COLUMNS, [[index, "x;y", f'"{index}', "é", 1, 2.5, "t", "f"]])
        result = replace_week_results(warehouse, report, WEEK, execution_id, [data])
        assert result.record_count == 1
        assert len(result.columns) == len(HOSTILE_COLUMNS)
        assert len({name for name, _ in result.columns}) == len(HOSTILE_COLUMNS)
        for name, _ in result.columns:
            assert len(name.encode()) <= MAX_IDENTIFIER_BYTES
    with warehouse.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE nspname = 'amc_results' AND relkind = 'p'"
            )
        ]
        assert conn.execute("SELECT count(*) FROM report_data_weeks").fetchone()[0] == len(
            HOSTILE_REPORTS
        )
    assert len(tables) == len(HOSTILE_REPORTS)  # the two long names did not collide
    assert sorted(tables) == sorted(pg_identifier(r) for r in HOSTILE_REPORTS)
    for index, report in enumerate(HOSTILE_REPORTS):
        rows = _rows(warehouse, report)
        assert len(rows) == 1 and rows[0][2] == index
        assert rows[0][3:6] == ("x;y", f'"{index}', "é")
        assert warehouse.results_table(report).startswith('"amc_results"."')


def test_loads_of_two_weeks_of_one_report_at_once_do_not_deadlock(warehouse: Warehouse):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def load(week: date, column: str) -> None:
        try:
            execution_id = new_execution(warehouse, week=week)
            rows = [[i, i * 1.5, f"v{i}"] for i in range(5_000)]
            data = csv_bytes(["id", "amount", column], rows)
            barrier.wait(timeout=60)
            replace_week_results(warehouse, REPORT, week, execution_id, [data])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=load, args=(WEEK + timedelta(days=7 * i), f"new_{i}"))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    columns = _types(warehouse, REPORT)
    assert {f"new_{i}" for i in range(4)} <= set(columns)
    for i in range(4):
        counts = warehouse.count_week_rows(REPORT, WEEK + timedelta(days=7 * i))
        assert list(counts.values()) == [5_000]


def test_same_week_loaded_concurrently_never_duplicates(warehouse: Warehouse):
    ids = [new_execution(warehouse) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(ids))

    def load(execution_id: uuid.UUID, n: int) -> None:
        try:
            data = csv_bytes(["id"], [[i] for i in range(n)])
            barrier.wait(timeout=60)
            replace_week_results(warehouse, REPORT, WEEK, execution_id, [data])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=load, args=(eid, 1_000 * (i + 1))) for i, eid in enumerate(ids)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    counts = warehouse.count_week_rows(REPORT, WEEK)
    week = warehouse.get_week(REPORT, WEEK)
    assert list(counts) == [week.execution_id]
    assert counts[week.execution_id] == week.record_count


def test_a_concurrent_reader_sees_the_old_week_or_the_new_never_a_mix(warehouse: Warehouse):
    sizes = [3_000, 5_000, 2_000, 4_000, 3_500, 6_000]
    executions = [new_execution(warehouse) for _ in sizes]
    size_of = dict(zip(executions, sizes, strict=True))
    payloads = {
        eid: csv_bytes(["id", "value"], [[i, f"{eid.hex[:6]}-{i}"] for i in range(n)])
        for eid, n in size_of.items()
    }
    replace_week_results(warehouse, REPORT, WEEK, executions[0], [payloads[executions[0]]])

    stop = threading.Event()
    observed: list[uuid.UUID] = []
    violations: list[str] = []
    reads = threading.Semaphore(0)
    table = sql.SQL(warehouse.results_table(REPORT))

    def read(conn: psycopg.Connection, isolation: str) -> None:
        with conn.transaction():
            conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
            counts = conn.execute(
                sql.SQL(
                    "SELECT execution_id, count(*), count(DISTINCT id) FROM {}"
                    " WHERE week_start_date = %s GROUP BY 1"
                ).format(table),
                (WEEK,),
            ).fetchall()
            week = conn.execute(
                "SELECT execution_id, record_count FROM report_data_weeks"
                " WHERE report = %s AND week_start_date = %s",
                (REPORT, WEEK),
            ).fetchone()
            if isolation == "REPEATABLE READ":
                again = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE week_start_date = %s").format(table),
                    (WEEK,),
                ).fetchone()[0]
                if counts and again != counts[0][1]:
                    violations.append(f"repeatable read changed: {counts} then {again}")
        if len(counts) != 1:
            violations.append(f"mix of executions: {counts}")
            return
        execution_id, total, distinct = counts[0]
        if total != size_of[execution_id] or distinct != total:
            violations.append(f"partial or duplicated week: {counts}")
        # Under READ COMMITTED the week row and the rows name the same execution. A REPEATABLE
        # READ transaction whose snapshot predates a swap of the week's partition may read the
        # new partition (Postgres plans with the current catalog; its rows are written frozen):
        # still one whole version, never a mix, but possibly newer than the week row it sees.
        # (Under READ COMMITTED the week row, read by the next statement, may be newer.)
        newer = executions.index(week[0]) - executions.index(execution_id)
        if newer < 0 if isolation == "READ COMMITTED" else newer > 0:
            violations.append(f"week row {week} disagrees with rows {counts} ({isolation})")
        observed.append(execution_id)

    def reader() -> None:
        with psycopg.connect(warehouse.database_url) as conn:
            isolation = ("READ COMMITTED", "REPEATABLE READ")
            n = 0
            while not stop.is_set():
                read(conn, isolation[n % 2])
                n += 1
                reads.release()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert reads.acquire(timeout=60)  # the reader saw the first week before any replace
        for execution_id in executions[1:]:
            replace_week_results(warehouse, REPORT, WEEK, execution_id, [payloads[execution_id]])
        deadline = time.monotonic() + 60
        while observed[-1:] != [executions[-1]] and time.monotonic() < deadline:
            reads.acquire(timeout=1)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not violations, violations[:5]
    assert observed[0] == executions[0]
    assert observed[-1] == executions[-1]
    assert warehouse.count_week_rows(REPORT, WEEK) == {executions[-1]: sizes[-1]}


def test_a_row_longer_than_the_type_sample(warehouse: Warehouse):
    long_text = "x" * 700_000  # more than the sample of the first 256 KiB
    data = csv_bytes(["id", "note", "day"], [[1, long_text, "2024-01-07"], [2, "short", ""]])
    execution_id = new_execution(warehouse)
    result = replace_week_results(warehouse, REPORT, WEEK, execution_id, iter([data]))
    assert result.record_count == 2
    assert result.columns == [("id", "bigint"), ("note", "text"), ("day", "date")]
    assert max(len(r[0]) for r in _rows(warehouse, REPORT, "note, id, day")) == 700_000


def test_the_load_returns_what_it_wrote(warehouse: Warehouse):
    first = new_execution(warehouse, amc_execution_id="amc-1")
    loaded = replace_week_results(
        warehouse, REPORT, WEEK, first, [csv_bytes(["id", "n"], [[1, 10], [2, 20]])]
    )
    assert loaded.restatement is None  # a first collection: nothing restated
    assert loaded.provisional is False
    second = new_execution(warehouse, amc_execution_id="amc-2")
    with warehouse.connect() as conn:
        conn.execute("UPDATE workflow_executions SET provisional = true WHERE id = %s", (second,))
    key = warehouse.get_execution(second).key
    again = warehouse.load_week(key, second, [csv_bytes(["id", "n"], [[1, 10], [3, 30]])])
    version = warehouse.get_version(second)
    assert again.restatement is not None and again.restatement == version.restatement
    assert (again.restatement["rows_added"], again.restatement["rows_removed"]) == (1, 1)
    assert again.provisional is True and version.provisional is True
    assert warehouse.get_week(REPORT, WEEK).provisional is True
    # The execution must be of the week the load completes.
    other_week = new_execution(warehouse, week=WEEK + timedelta(days=7))
    with pytest.raises(ValueError, match="no workflow_executions row of"):
        warehouse.load_week(key, other_week, [csv_bytes(["id"], [[1]])])
    assert warehouse.count_week_rows(REPORT, WEEK) == {second: 2}
