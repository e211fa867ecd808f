"""Materialization metadata of one collected week: the same values as its week row."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from amc_reports.collection import CollectionError, WeekOutcome
from amc_reports.config import ReportConfig
from amc_reports.warehouse import Warehouse
from amc_reports.weeks import DAYS_PER_WEEK, WeekWindow

PREVIEW_ROWS = 5
# The newest weeks listed in each week's `weeks` table (ended, offered or not yet).
WEEKS_LISTED = 6
TIME_FORMAT = "%Y-%m-%d %H:%M %Z"

# Postgres type -> the type names Dagster shows in a column schema.
_DISPLAY_TYPES = {
    "bigint": "int",
    "double precision": "float",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "boolean": "bool",
    "text": "string",
    "uuid": "uuid",
}


def column_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, _DISPLAY_TYPES.get(kind, kind)) for name, kind in columns]
    )


def preview_table(warehouse: Warehouse, report: str, outcome: WeekOutcome) -> dg.TableMetadataValue:
    """The first rows of the week as a table (lineage columns left out)."""
    names, rows = warehouse.preview_rows(
        report, outcome.window.week_start, outcome.execution_id, PREVIEW_ROWS
    )
    types = dict(outcome.load.columns)
    schema = column_schema([(name, types.get(name, "text")) for name in names])
    records = [
        dg.TableRecord({name: table_cell(value) for name, value in zip(names, row, strict=True)})
        for row in rows
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


PREVIEW_DIGITS = 4  # significant digits a preview keeps of a fraction (a CTR of 0.01345)


def table_cell(value: Any) -> str | int | float | bool | None:
    """A value the UI's table shows as it is (numbers stay numbers; floats rounded for reading,
    `preview_number`). The stored values are untouched."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return preview_number(value) if value == value else None  # NaN: empty
    return str(value)


def preview_number(value: float) -> float:
    """Two decimals, and `PREVIEW_DIGITS` significant digits below 1: 12345.68, 0.5, 0.01345."""
    if value == 0 or not math.isfinite(value) or abs(value) >= 1:
        return round(value, 2) if math.isfinite(value) else value
    return round(value, PREVIEW_DIGITS - 1 - math.floor(math.log10(abs(value))))


def materialization_metadata(
    report: ReportConfig, warehouse: Warehouse, outcome: WeekOutcome
) -> dict[str, Any]:
    load = outcome.load
    window = outcome.window
    final_at = window.final_at(report.lag_days)
    metadata: dict[str, Any] = {
        # First, so that the UI shows it first: are these numbers final?
        "week_status": week_status(outcome.provisional, final_at),
        "provisional": outcome.provisional,
        "execution_id": str(outcome.execution_id),
        "amc_execution_id": outcome.amc_execution_id,
        "resumed_execution": outcome.resumed,
        # AMC created it without naming it (no id in its answer, a cut connection): adopted.
        "adopted_execution": outcome.adopted,
        "amc_submissions": outcome.submissions,
        # Executions AMC failed on its side (or lost) that were submitted again.
        "amc_retries": outcome.retried,
        "amc_time_window": (
            f"{window.amc_start} to {window.amc_end} (end exclusive), {window.time_zone}"
        ),
        "week_start_date": window.week_start.isoformat(),
        "week_end_date": window.week_end.isoformat(),
        "week_final_at": dg.MetadataValue.timestamp(final_at),
        "amc_instance": outcome.instance,
        "dagster/row_count": load.record_count,
        "dagster/column_schema": column_schema(list(load.columns)),
        "dagster/table_name": (
            f"{warehouse.results_schema}.{warehouse.results_table_name(report.name)}"
        ),
        "data_checksum": load.checksum,
        "result_bytes": load.bytes,
        "load_seconds": round(load.seconds, 3),
        "amc_data_gaps": dg.MetadataValue.json(outcome.data_gaps),
        "preview": preview_table(warehouse, report.name, outcome),
        "weeks": weeks_table(report, warehouse, outcome.instance, datetime.now(UTC)),
    }
    record = outcome.record
    if record.create_time:
        metadata["amc_submitted_at"] = dg.MetadataValue.timestamp(record.create_time)
    if record.start_time:
        metadata["amc_started_at"] = dg.MetadataValue.timestamp(record.start_time)
    if record.end_time:
        metadata["amc_completed_at"] = dg.MetadataValue.timestamp(record.end_time)
    if outcome.queue_seconds is not None:
        metadata["amc_queue_seconds"] = round(outcome.queue_seconds, 1)
    if outcome.run_seconds is not None:
        metadata["amc_run_seconds"] = round(outcome.run_seconds, 1)
    if load.amc_source:
        # Which AMC the week came from: live or the sandbox, and its API host (never a URL).
        metadata["amc_source"] = load.amc_source
        metadata["amc_api_host"] = load.amc_api_host or ""
    if load.restatement is not None:
        metadata.update(restatement_metadata(load.restatement))
    return metadata


def week_status(provisional: bool, final_at: Any) -> str:
    """What the UI shows first on a week: final, or provisional until when."""
    if provisional:
        return (
            f"PROVISIONAL: collected before the week is final ({final_at:%Y-%m-%d %H:%M %Z}); "
            "AMC still attributes conversions to it"
        )
    return "final"


def restatement_metadata(restatement: dict[str, Any]) -> dict[str, Any]:
    """What a re-collection changed: numbers (plotted per week) and the whole summary."""
    values: dict[str, Any] = {
        "restated_from_execution_id": restatement.get("previous_execution_id") or "",
        "restated_from_provisional": bool(restatement.get("previous_provisional")),
        "restated_rows_before": restatement.get("rows_before", 0),
        "restated_rows_after": restatement.get("rows_after", 0),
    }
    for name in ("rows_added", "rows_removed", "rows_changed"):
        if restatement.get(name) is not None:
            values[f"restated_{name}"] = restatement[name]
    largest = restatement.get("largest_sum_change")
    if largest:
        values["restated_largest_sum_change_pct"] = round(100 * largest["relative_change"], 3)
        values["restated_largest_sum_change_column"] = largest["column"]
    values["restatement"] = dg.MetadataValue.json(restatement)
    return values


def failure_observation(
    error: CollectionError, week: date, run_id: str
) -> tuple[str, dict[str, Any]]:
    """What the failed week's partition shows (an asset observation): the collection's own
    message (AMC's reason, the ids, what to do; secrets already redacted) and its parts."""
    return str(error), {
        "week_status": f"FAILED ({error.kind.value}): not collected",
        "failure_kind": error.kind.value,
        "execution_id": str(error.execution_id or ""),
        "amc_execution_id": error.amc_execution_id or "",
        "week_start_date": week.isoformat(),
        "dagster_run_id": run_id,
        "message": str(error),
    }


def weeks_table(
    report: ReportConfig, warehouse: Warehouse, instance: str, now: datetime
) -> dg.TableMetadataValue:
    """The newest weeks that ended, as of `now`: each one's status (final, PROVISIONAL, failed,
    not collected, or not offered yet), when it is final and when it is (or was) offered."""
    newest_ended = report.newest_week(now, collects_provisional=True)
    newest_offered = report.newest_week(now)
    rows = {row.week_start_date: row for row in warehouse.list_weeks(report.name, instance)}
    records = []
    for back in range(WEEKS_LISTED):
        week = newest_ended - timedelta(days=DAYS_PER_WEEK * back)
        if week < report.start_date:
            break
        final_at = WeekWindow(week, report.timezone).final_at(report.lag_days)
        row = rows.get(week)
        if week > newest_offered:
            status = "not offered yet"
        elif row is None:
            status = "not collected"
        elif row.is_completed:
            status = "PROVISIONAL" if row.provisional else "final"
        else:
            status = str(row.status)
        records.append(
            dg.TableRecord(
                {
                    "week": week.isoformat(),
                    "status": status,
                    "final_at": f"{final_at:{TIME_FORMAT}}",
                    "offered_at": f"{report.offered_at(week):{TIME_FORMAT}}",
                }
            )
        )
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("week", "date"),
            dg.TableColumn("status", "string"),
            dg.TableColumn("final_at", "timestamptz"),
            dg.TableColumn("offered_at", "timestamptz"),
        ]
    )
    return dg.MetadataValue.table(records=records, schema=schema)
