"""Helpers shared by the warehouse tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg import conninfo as pg_conninfo

from amc_reports.warehouse import LoadResult, Submission, Warehouse, WeekKey
from amc_reports.warehouse.loading import LoadOptions

WEEK = date(2024, 1, 7)
INSTANCE = "us"  # the alias of the tests' AMC instance


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URLs stay URLs, DSNs stay DSNs)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return pg_conninfo.make_conninfo(url, dbname=dbname)


def submission(sql_hash: str = "sha-1", week: date = WEEK) -> Submission:
    start = datetime(week.year, week.month, week.day)
    return Submission(
        amc_instance_id="amcinstance1",
        time_window_start=start,
        time_window_end=(start + timedelta(days=7)).isoformat(),
        time_zone="America/New_York",
        sql_hash=sql_hash,
        parameters={"min_impressions": 10},
    )


def new_execution(
    warehouse: Warehouse,
    report: str = "weekly_campaign",
    week: date = WEEK,
    *,
    amc_execution_id: str | None = None,
    sql_hash: str = "sha-1",
    status: str | None = None,
    run_id: str = "run-1",
    instance: str = INSTANCE,
) -> uuid.UUID:
    """Record an execution; attach an AMC id (and set a status) when given."""
    execution_id = warehouse.life.record_submission(
        WeekKey(report, instance, week), submission(sql_hash, week), run_id=run_id
    )
    if amc_execution_id:
        warehouse.life.attach(execution_id, amc_execution_id, submitted_at=datetime.now(UTC))
    if status:
        warehouse.life.progress(execution_id, status)
    return execution_id


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def collected_week(
    warehouse: Warehouse,
    report: str = "weekly_campaign",
    week: date = WEEK,
    rows: int = 3,
    *,
    amc_execution_id: str | None = None,
    instance: str = INSTANCE,
) -> uuid.UUID:
    """A fully traced completed week with `rows` result rows; returns its execution_id."""
    amc_id = amc_execution_id or f"amc-{uuid.uuid4().hex[:10]}"
    execution_id = new_execution(
        warehouse, report, week, amc_execution_id=amc_id, instance=instance
    )
    warehouse.life.progress(execution_id, "SUCCEEDED")
    data = csv_bytes(
        ["campaign_id", "impressions", "spend"],
        [[i, i * 10, f"{i * 1.5:.2f}"] for i in range(rows)],
    )
    replace_week_results(warehouse, report, week, execution_id, [data], amc_execution_id=amc_id)
    return execution_id


def insert_stray_rows(
    warehouse: Warehouse,
    report: str,
    week: date,
    execution_id: uuid.UUID,
    values: dict[str, object],
    instance: str = INSTANCE,
) -> None:
    """Tamper with a results table the way only a person with SQL access could: a row of
    `execution_id` in the week's partition (created if the week has none), its lineage CHECKs
    dropped so that a foreign execution fits."""
    from psycopg import sql

    from amc_reports.warehouse import partitions

    schema, table = warehouse.results_schema, warehouse.results_table_name(report)
    key = WeekKey(report, instance, week)
    name = partitions.partition_name(table, key)
    start, end = partitions.bounds(key)
    with warehouse.connect() as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM {} TO {}"
            ).format(sql.Identifier(schema, name), sql.Identifier(schema, table), start, end)
        )
        for check in partitions.LINEAGE_CHECKS:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                    sql.Identifier(schema, name), sql.Identifier(check)
                )
            )
        columns = ["execution_id", "week_start_date", "amc_instance", *values]
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(schema, table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            ),
            (execution_id, week, instance, *values.values()),
        )


def replace_week_results(
    warehouse: Warehouse,
    report: str,
    week_start: date,
    execution_id: uuid.UUID,
    csv_stream: BinaryIO | Iterable[bytes],
    *,
    amc_execution_id: str | None = None,
    options: LoadOptions | None = None,
    run_id: str | None = None,
) -> LoadResult:
    """`Warehouse.load_week` for a test that knows the execution but not its instance: the week
    is the execution's (its report, instance and week), which must be `report`'s `week_start`."""
    execution = warehouse.get_execution(execution_id)
    if execution is None:
        raise ValueError(f"execution_id {execution_id} has no workflow_executions row")
    if (execution.report, execution.week_start_date) != (report, week_start):
        raise ValueError(
            f"execution_id {execution_id} is of report {execution.report!r} week "
            f"{execution.week_start_date}, not of {report!r} week {week_start}"
        )
    return warehouse.load_week(
        execution.key,
        execution.id,
        csv_stream,
        amc_execution_id=amc_execution_id,
        options=options,
        run_id=run_id,
    )


def point_cli_at(warehouse: Warehouse, monkeypatch, folder: Path, report: str) -> Path:
    """Make `amc-reports` commands run by the test read ``warehouse`` and a reports file of one
    report (``report``, instance `us`, from 2024-01-07) written in ``folder``; returns its path."""
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    config = folder / "reports.yaml"
    config.write_text(
        "instances:\n  us:\n    instance_id: amcinstance1\n    advertiser_id: E\n"
        f"    marketplace_id: M\nreports:\n  {report}:\n    instance: us\n"
        "    sql: SELECT 1 AS a\n    start_date: 2024-01-07\n"
    )
    monkeypatch.setenv("AMC_REPORTS_CONFIG", str(config))
    return config
