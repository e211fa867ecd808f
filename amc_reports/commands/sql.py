"""`amc-reports check-sql`: run reports' SQL offline on one synthetic week, before paying AMC.

Each report's query (or each ``--file``'s) is parsed as AMC would (`amc_reports.amc_sql`), checked
against AMC's documented limitations, bound against the sandbox's AMC tables and run on one week
of the sandbox's synthetic data for the report's instance (the newest final week, unless
``--week`` says otherwise). It prints the result's columns and types and its row count, or every
problem of the query and where each is. `check_sql_text` is the same check for any query text;
``validate-config`` uses `sql_problems` for the syntax part.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amc_reports.commands import add_command, load_config_or_explain

if TYPE_CHECKING:
    from amc_reports.amc_sql import SqlError
    from amc_reports.local.sandbox.query import QueryResult

HELP = "run reports' SQL offline on one synthetic week: columns, types and row count, or the error"


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "check-sql", run_check_sql, HELP, description=HELP, reads_config=True
    )
    parser.add_argument("reports", nargs="*", metavar="REPORT", help="report names")
    parser.add_argument("--all", action="store_true", help="every report with SQL")
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        type=Path,
        default=[],
        metavar="Q.sql",
        help="a query file to check instead of reports (repeatable; no reports file is read)",
    )
    parser.add_argument(
        "--timezone",
        default="UTC",
        metavar="ZONE",
        help="with --file: the IANA time zone of the week's window (default: UTC)",
    )
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with --file: a CUSTOM_PARAMETER value (repeatable; a string)",
    )
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


FILE_INSTANCE = "amccheckfile"  # whose synthetic data a --file query runs on
FILE_WEEK_START_WEEKDAY = 6  # a --file query's week starts on Sunday, as reports' by default
FILE_LAG_DAYS = 14


@dataclass(frozen=True)
class SqlCheck:
    """What check-sql found for one query: its result, or every problem it has."""

    week_start: date
    time_zone: str
    impressions_per_day: int
    seconds: float
    errors: tuple[SqlError, ...] = ()
    result: QueryResult | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def check_sql_text(
    sql: str,
    *,
    week_start: date | None = None,
    time_zone: str = "UTC",
    instance_id: str = FILE_INSTANCE,
    marketplace_id: str = "ATVPDKIKX0DER",
    parameters: Mapping[str, Any] | None = None,
    impressions_per_day: int | None = None,
    now: datetime | None = None,
) -> SqlCheck:
    """Check one query as check-sql does: parse it, check it against AMC's limitations and the
    sandbox's AMC tables, and run it on one synthetic week (default: the newest final week of a
    Sunday-to-Saturday report in ``time_zone``, 14 days' lag)."""
    from amc_reports import weeks
    from amc_reports.amc_sql import AmcSqlError, parse_amc_sql
    from amc_reports.local.sandbox import query
    from amc_reports.local.sandbox.faults import DEFAULTS

    started = time.perf_counter()  # after the imports: what one more query costs
    now = now or datetime.now(UTC)
    week_start = week_start or weeks.newest_final_week(
        now,
        week_start_weekday=FILE_WEEK_START_WEEKDAY,
        time_zone=time_zone,
        lag_days=FILE_LAG_DAYS,
    )
    volume = impressions_per_day or int(DEFAULTS["impressions_per_day"])

    def outcome(errors: tuple[SqlError, ...] = (), result: Any = None) -> SqlCheck:
        seconds = time.perf_counter() - started
        return SqlCheck(week_start, time_zone, volume, seconds, errors, result)

    error = parse_amc_sql(sql)
    if error is not None:
        return outcome((error,))
    window = weeks.WeekWindow(week_start, time_zone)
    data = query.DataSettings(
        instance_id=instance_id,
        impressions_per_day=volume,
        data_as_of=now,
        marketplace_id=marketplace_id,
    )
    try:
        amc_window = query.Window.parse(window.amc_start, window.amc_end, time_zone)
        prepared = query.check(query.prepare(sql, amc_window, parameters or {}))
        result = query.run(prepared, amc_window, data)
    except AmcSqlError as exc:
        return outcome(exc.errors)
    return outcome(result=result)


def run_check_sql(args: argparse.Namespace) -> int:
    if args.files:
        if args.reports or args.all:
            print("check-sql: name reports (or --all), or --file, not both", file=sys.stderr)
            return 2
        return _check_files(args)
    config = load_config_or_explain(args.config)
    if config is None:
        return 1
    if args.all == bool(args.reports):
        print("check-sql: name one or more reports, or --all, or --file Q.sql", file=sys.stderr)
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


def _check_files(args: argparse.Namespace) -> int:
    from amc_reports.config.rules import is_time_zone

    if not is_time_zone(args.timezone):
        print(f"check-sql: --timezone {args.timezone!r} is no IANA time zone", file=sys.stderr)
        return 2
    parameters: dict[str, str] = {}
    for pair in args.params:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            print(f"check-sql: --param {pair!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        parameters[name] = value
    failed = 0
    for path in args.files:
        try:
            sql = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}")
            failed += 1
            continue
        checked = check_sql_text(
            sql,
            week_start=args.week,
            time_zone=args.timezone,
            parameters=parameters,
            impressions_per_day=args.impressions_per_day,
        )
        _print_outcome(str(path), checked, sql, lambda e, p=path: _at(str(p), e))
        failed += 0 if checked.ok else 1
    return 1 if failed else 0


def _at(source: str, error: SqlError) -> str:
    if error.line is None:
        return ""
    column = f", column {error.column}" if error.column is not None else ""
    return f"{source} line {error.line}{column}"


def _check_report(report: Any, instance: Any, args: argparse.Namespace, base_dir: Path) -> bool:
    from amc_reports import weeks
    from amc_reports.config import resolve_parameters

    label = f"amc/{instance.alias}/{report.name}"
    if not report.sql:
        print(f"{label}: saved workflow {report.workflow_id!r}: its SQL is kept in AMC; skipped")
        return True
    now = datetime.now(UTC)
    week_start = args.week or weeks.newest_final_week(
        now,
        week_start_weekday=report.week_start_weekday,
        time_zone=report.timezone,
        lag_days=report.lag_days,
    )
    window = weeks.WeekWindow(week_start, report.timezone)
    checked = check_sql_text(
        report.sql,
        week_start=week_start,
        time_zone=report.timezone,
        instance_id=instance.instance_id,
        marketplace_id=instance.marketplace_id,
        parameters=resolve_parameters(report, instance, window.week_start, window.week_end),
        impressions_per_day=args.impressions_per_day,
        now=now,
    )
    _print_outcome(label, checked, report.sql, lambda e: where_in_file(report, e, base_dir))
    return checked.ok


def _print_outcome(label: str, checked: SqlCheck, sql: str, where: Any) -> None:
    """``label: ok, N row(s) ...`` and the columns, or each problem with its place and excerpt."""
    if not checked.ok:
        many = len(checked.errors) > 1
        if many:
            print(f"{label}: {len(checked.errors)} problems")
        for error in checked.errors:
            place = where(error)
            head = "  - " if many else f"{label}: "
            print(f"{head}{place + ': ' if place else ''}{error.message}")
            sys.stdout.write(_excerpt(sql, error))
        return
    result = checked.result
    assert result is not None
    under = (
        f", {result.filtered_rows} more under AMC's {result.threshold}-user threshold"
        if result.filtered_rows
        else ""
    )
    print(
        f"{label}: ok, {len(result.rows)} row(s){under} for the week of {checked.week_start} "
        f"({checked.time_zone}; synthetic data, {checked.impressions_per_day:,} impressions a day)"
        f" in {checked.seconds:.2f} s"
    )
    width = max((len(c.name) for c in result.columns), default=0)
    for column in result.columns:
        print(f"    {column.name.ljust(width)}  {column.type}")
