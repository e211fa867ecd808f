"""`amc-reports check-sql`: run reports' SQL offline on one synthetic week, before paying AMC.

Each report's query is parsed as AMC would (`amc_reports.amc_sql`), bound against the sandbox's
AMC tables and run on one week of the sandbox's synthetic data for the report's instance (the
newest final week, unless ``--week`` says otherwise). It prints the result's columns and types
and its row count, or the error and where it is in the query. ``validate-config`` uses
`sql_problems` for the syntax part.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amc_reports.commands import add_command, load_config_or_explain

if TYPE_CHECKING:
    from amc_reports.amc_sql import SqlError

HELP = "run reports' SQL offline on one synthetic week: columns, types and row count, or the error"


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "check-sql", run_check_sql, HELP, description=HELP, reads_config=True
    )
    parser.add_argument("reports", nargs="*", metavar="REPORT", help="report names")
    parser.add_argument("--all", action="store_true", help="every report with SQL")
    parser.add_argument(
        "--week",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="first day of the week to run on (default: the report's newest final week)",
    )
    parser.add_argument(
        "--impressions-per-day",
        type=int,
        default=None,
        metavar="N",
        help="synthetic data volume (default: the sandbox's default)",
    )


def where_in_file(report: Any, error: SqlError, base_dir: Path) -> str:
    """``<file> line L, column C`` of an error in a report's SQL (its sql_file, or its sql)."""
    if error.line is None:
        return ""
    line = error.line
    source = "sql"
    if report.sql_file:
        source = str(report.sql_file)
        try:
            text = (base_dir / report.sql_file).read_text(encoding="utf-8")
        except OSError:
            text = ""
        if report.sql in text:  # the config strips leading blank lines
            line += text[: text.find(report.sql)].count("\n")
    column = f", column {error.column}" if error.column is not None else ""
    return f"{source} line {line}{column}"


def _excerpt(sql: str, error: SqlError) -> str:
    if error.line is None:
        return ""
    lines = sql.splitlines()
    if not 1 <= error.line <= len(lines):
        return ""
    text = lines[error.line - 1]
    caret = " " * max((error.column or 1) - 1, 0) + "^"
    return f"      {text}\n      {caret}\n"


def sql_problems(config: Any) -> list[str]:
    """Syntax errors of every report's SQL, one message each (empty when all parse)."""
    from amc_reports.amc_sql import parse_amc_sql

    problems = []
    for report in config.reports.values():
        if not report.sql:
            continue
        error = parse_amc_sql(report.sql)
        if error is not None:
            where = where_in_file(report, error, Path(config.path).parent)
            problems.append(
                f"{config.path}: report {report.name!r}: {where + ': ' if where else ''}"
                f"{error.message}"
            )
    return problems


def run_check_sql(args: argparse.Namespace) -> int:
    config = load_config_or_explain(args.config)
    if config is None:
        return 1
    if args.all == bool(args.reports):
        print("check-sql: name one or more reports, or --all", file=sys.stderr)
        return 2
    unknown = [name for name in args.reports if name not in config.reports]
    if unknown:
        known = ", ".join(sorted(config.reports))
        print(
            f"check-sql: no report {', '.join(unknown)} in {config.path} (reports: {known})",
            file=sys.stderr,
        )
        return 2
    names = set(args.reports or config.reports)
    base_dir = Path(config.path).parent
    failed = 0
    for report, instance in config.targets():  # a report fanned out runs on each instance
        if report.name in names:
            failed += 0 if _check_report(report, instance, args, base_dir) else 1
    return 1 if failed else 0


def _check_report(report: Any, instance: Any, args: argparse.Namespace, base_dir: Path) -> bool:
    from amc_reports import weeks
    from amc_reports.amc_sql import AmcSqlError, parse_amc_sql
    from amc_reports.config import resolve_parameters
    from amc_reports.local.sandbox import query
    from amc_reports.local.sandbox.faults import DEFAULTS

    label = f"amc/{instance.alias}/{report.name}"
    if not report.sql:
        print(f"{label}: saved workflow {report.workflow_id!r}: its SQL is kept in AMC; skipped")
        return True
    started = time.perf_counter()  # after the imports: what one more report costs
    error = parse_amc_sql(report.sql)
    if error is not None:
        _print_error(label, report, error, base_dir)
        return False

    now = datetime.now(UTC)
    week_start = args.week or weeks.newest_final_week(
        now,
        week_start_weekday=report.week_start_weekday,
        time_zone=report.timezone,
        lag_days=report.lag_days,
    )
    window = weeks.WeekWindow(week_start, report.timezone)
    volume = args.impressions_per_day or int(DEFAULTS["impressions_per_day"])
    data = query.DataSettings(
        instance_id=instance.instance_id,
        impressions_per_day=volume,
        data_as_of=now,
        marketplace_id=instance.marketplace_id,
    )
    parameters = resolve_parameters(report, instance, window.week_start, window.week_end)
    try:
        amc_window = query.Window.parse(window.amc_start, window.amc_end, report.timezone)
        prepared = query.check(query.prepare(report.sql, amc_window, parameters))
        result = query.run(prepared, amc_window, data)
    except AmcSqlError as exc:
        _print_error(label, report, exc.error, base_dir)
        return False
    seconds = time.perf_counter() - started
    under = (
        f", {result.filtered_rows} more under AMC's {query.AGGREGATION_THRESHOLD}-user threshold"
        if result.filtered_rows
        else ""
    )
    print(
        f"{label}: ok, {len(result.rows)} row(s){under} for the week of {week_start} "
        f"({report.timezone}; synthetic data, {volume:,} impressions a day) in {seconds:.2f} s"
    )
    width = max((len(c.name) for c in result.columns), default=0)
    for column in result.columns:
        print(f"    {column.name.ljust(width)}  {column.type}")
    return True


def _print_error(label: str, report: Any, error: SqlError, base_dir: Path) -> None:
    where = where_in_file(report, error, base_dir)
    print(f"{label}: {where + ': ' if where else ''}{error.message}")
    sys.stdout.write(_excerpt(report.sql, error))
