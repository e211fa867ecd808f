"""`amc-reports verify | migrate | postgres`: the warehouse's operator commands.

They use the warehouse the Dagster definitions use (`amc_reports.environment`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from amc_reports.commands import add_command, unknown_report
from amc_reports.warehouse.connection import DatabaseConfigError


def register(subparsers: Any) -> None:
    add_command(
        subparsers,
        "verify",
        run_verify,
        "check that every completed week is traced to its AMC execution",
        description=(
            "Weeks by status, the share of completed weeks with execution_id and "
            "amc_execution_id, foreign keys, ids agreeing between report_data_weeks and "
            "workflow_executions, result rows of another execution, sample rows. Exit 0 when every "
            "completed week is fully traced, 1 otherwise, 2 when the database is unreachable."
        ),
        one_report=True,
        json_output=True,
    )

    add_command(
        subparsers,
        "migrate",
        run_migrate,
        "apply pending warehouse migrations",
        description=(
            "Apply the pending migrations with the reports config's instance aliases, as a "
            "process's first use of the warehouse does. A migration that upgrades stored rows by "
            "the config refuses (exit 2, nothing changed) when the config does not load."
        ),
    )
    postgres = add_command(
        subparsers,
        "postgres",
        run_postgres,
        "the embedded PostgreSQL (used when AMC_REPORTS_DATABASE_URL is unset)",
    )
    postgres.add_argument("action", choices=["status", "start", "stop"])


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _warehouse_resource(*, say_when_no_config: bool = False) -> Any:
    """The warehouse the definitions use, with the same migration inputs (the config, when it
    loads, names old rows' instances)."""
    from amc_reports.config import ConfigError, load_config
    from amc_reports.environment import build_warehouse_resource, resolved

    try:
        config = load_config()
    except ConfigError as exc:
        config = None
        if say_when_no_config:
            print(
                f"note: the reports config did not load, so a migration that needs it will "
                f"refuse:\n{exc}",
                file=sys.stderr,
            )
    return resolved(build_warehouse_resource(config=config))


def run_migrate(args: argparse.Namespace) -> int:
    from amc_reports.warehouse.connection import mask_url

    try:
        warehouse, applied = _warehouse_resource(say_when_no_config=True).migrate()
    except DatabaseConfigError as exc:
        return _fail(exc)
    target = mask_url(warehouse.database_url)
    if applied:
        print(f"applied {len(applied)} migration(s) to {target}: {', '.join(applied)}")
    else:
        print(f"{target}: schema up to date")
    return 0


def configured_reports(config: Any) -> dict[str, Any]:
    """The config's reports as `warehouse.drift` compares them: instances, selected columns."""
    from amc_reports.amc_sql import AmcSqlError, parse_query
    from amc_reports.warehouse.drift import ConfiguredReport
    from amc_reports.warehouse.identifiers import column_names_for_header

    configured = {}
    for name, report in config.reports.items():
        columns = None
        try:
            selects = parse_query(report.sql).expressions if report.sql else []
        except AmcSqlError:
            selects = []
        names = [select.alias_or_name for select in selects]
        if names and all(names) and not any(select.is_star for select in selects):
            columns = frozenset(column_names_for_header(names))
        configured[name] = ConfiguredReport(
            frozenset(instance.alias for instance in report.instances), columns
        )
    return configured


def run_verify(args: argparse.Namespace) -> int:
    from amc_reports.config import ConfigError, load_config
    from amc_reports.warehouse.drift import drift
    from amc_reports.warehouse.verify import verify

    try:
        config = load_config()
    except ConfigError as exc:
        if args.report:
            return _fail(exc)
        config = None
    if args.report and args.report not in config.reports:
        print(f"error: {unknown_report(config, args.report)}", file=sys.stderr)
        return 2
    try:
        warehouse = _warehouse_resource().get_warehouse()
        outcome = verify(warehouse, args.report)
        if config is not None and not args.report:
            outcome.not_in_config = drift(warehouse, configured_reports(config))
    except DatabaseConfigError as exc:
        return _fail(exc)
    if args.report and not outcome.reports:
        print(f"Report {args.report!r} has no collected weeks yet: nothing to verify.")
        return 0
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        print(render(outcome))
    return 0 if outcome.ok else 1


def render(outcome: Any) -> str:
    """The human-readable verification report."""
    lines: list[str] = []
    for problem in outcome.problems:
        lines.append(f"PROBLEM: {problem}")
    if not outcome.reports and not outcome.problems:
        lines.append("No weeks recorded yet: nothing to verify.")
    for report in outcome.reports:
        lines.append(f"== {report.report}  ({report.results_table})")
        statuses = "  ".join(f"{s}={n}" for s, n in report.weeks_by_status.items())
        lines.append(f"  weeks: {statuses}")
        lines.append(
            f"  completed weeks: {report.final_weeks} final, {report.provisional_weeks} "
            "provisional (collected before they were final; not sampled)"
        )
        lines.append(
            f"  completed weeks with execution_id: {report.with_execution_id}/"
            f"{report.completed_weeks} ({report.execution_id_pct:.1f}%)"
        )
        lines.append(
            f"  completed weeks with amc_execution_id: {report.with_amc_execution_id}/"
            f"{report.completed_weeks} ({report.amc_execution_id_pct:.1f}%)"
        )
        lines.append(
            f"  execution_id without workflow_executions row: {report.unresolved_execution_ids}"
        )
        lines.append(f"  ids disagreeing with workflow_executions: {report.id_mismatches}")
        lines.append(
            f"  result rows: {report.result_rows}; of another execution than their week's: "
            f"{report.foreign_rows}; of unknown weeks: {report.orphan_rows}; weeks whose row "
            f"count differs from record_count: {report.record_count_mismatches}"
        )
        if report.amc_sources:
            sources = ", ".join(f"{s}={n}" for s, n in sorted(report.amc_sources.items()))
            lines.append(f"  completed weeks by AMC source: {sources}")
        lines.append(
            f"  history: {report.history_versions} replaced version(s) kept, "
            f"{report.history_rows} rows"
        )
        for problem in report.problems:
            lines.append(f"  PROBLEM: {problem}")
        for note in report.notes:
            lines.append(f"  note: {note}")
        if report.sample_rows:
            lines.append(f"  sample rows of week {report.sample_week}:")
            for row in report.sample_rows:
                cells = ", ".join(f"{k}={_short(v)}" for k, v in row.items())
                lines.append(f"    {cells}")
        lines.append(f"  {'OK' if report.ok else 'NOT FULLY TRACED'}")
    if outcome.not_in_config:
        lines.append("== not in the current config (kept; nothing is removed)")
        lines += [f"  note: {note}" for note in outcome.not_in_config]
    lines.append(
        "All completed weeks are fully traced." if outcome.ok else "Lineage problems found."
    )
    return "\n".join(lines)


def _short(value: str | None, limit: int = 40) -> str:
    if value is None:
        return "NULL"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def run_postgres(args: argparse.Namespace) -> int:
    from amc_reports.environment import local_settings
    from amc_reports.local.postgres import embedded_server

    local = local_settings()
    server = embedded_server(local.pgdata, local.pg_idle_seconds)
    if args.action == "start":
        try:
            uri = server.uri()
        except Exception as exc:
            print(f"error: could not start the embedded PostgreSQL: {exc}", file=sys.stderr)
            return 2
        print(f"running: {uri}")
        server.release()  # the idle reaper stops it when nobody uses it
        return 0
    if args.action == "stop":
        stopped = server.stop()
        print("stopped" if stopped else "not running")
        return 0
    status = server.status()
    for key, value in status.items():
        print(f"{key}: {value}")
    return 0
