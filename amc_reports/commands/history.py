"""`amc-reports history REPORT WEEK`: the versions of a week, and what changed between two."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from amc_reports.commands import add_command, unknown_report


def register(subparsers: Any) -> None:
    history = add_command(
        subparsers,
        "history",
        run_history,
        "list the stored versions of a week (current and replaced) and what changed",
        description=(
            "Every collection of a week is kept: the current rows in the results table, replaced "
            "ones in the history schema. Lists each version (execution ids, when it was loaded, "
            "provisional or final, rows, sums of the report's measures); with --diff, what "
            "changed between two versions (rows added, removed and changed by the report's key "
            "columns, and the measures' sums): for a version and the one it replaced, the "
            "restatement recorded at its load, which the restatement check judges. "
            "Exit 2 for an unknown report, week or version."
        ),
        json_output=True,
    )
    history.add_argument("report", help="the report's name in reports.yaml")
    history.add_argument("week", help="the week's first day, e.g. 2026-03-01")
    history.add_argument("--instance", help="the AMC instance alias (reports on several)")
    history.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="compare two versions (execution ids, or their first characters)",
    )


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_history(args: argparse.Namespace) -> int:
    from amc_reports.config import ConfigError, load_config
    from amc_reports.environment import build_warehouse_resource, resolved
    from amc_reports.warehouse import DatabaseConfigError
    from amc_reports.warehouse.versions import HistoryError, compare, find_version, week_versions

    try:
        week = date.fromisoformat(args.week)
    except ValueError:
        return _error(f"week {args.week!r} is not a date like 2026-03-01")
    key_columns = measures = None
    try:
        config = load_config()
        report = config.reports.get(args.report)
        if report is None:
            return _error(unknown_report(config, args.report))
        key_columns, measures = report.key_columns, report.measures
    except ConfigError as exc:
        return _error(str(exc))
    try:
        warehouse = resolved(build_warehouse_resource(config=config)).get_warehouse()
        versions = week_versions(warehouse, args.report, week, args.instance)
        if not versions:
            print(f"Week {week} of {args.report} has no stored version yet.")
            return 0
        if args.diff:
            old, new = (find_version(versions, wanted) for wanted in args.diff)
            changes = compare(warehouse, old, new, key_columns, measures)
            print(json.dumps(changes, indent=2, default=str) if args.json else render_diff(changes))
            return 0
    except (HistoryError, DatabaseConfigError) as exc:
        return _error(str(exc))
    if args.json:
        shown = [_as_dict(v, key_columns, measures) for v in versions]
        print(json.dumps(shown, indent=2, default=str))
    else:
        print(render_versions(args.report, week, versions, key_columns, measures))
    return 0


def _as_dict(
    version: Any, key_columns: Sequence[str] | None, measures: Sequence[str] | None
) -> dict[str, Any]:
    from amc_reports.warehouse.restatement import measure_sums

    row = version.version
    return {
        "execution_id": str(row.execution_id),
        "amc_execution_id": version.execution.amc_execution_id if version.execution else None,
        "amc_instance": row.amc_instance,
        "state": str(row.state),
        "data": version.label,
        "loaded_at": row.loaded_at.isoformat(),
        "replaced_at": row.replaced_at.isoformat() if row.replaced_at else None,
        "rows": row.row_count,
        "sums": measure_sums(row.sums or {}, key_columns or (), measures),
        "table": f"{row.table_schema}.{row.table_name}",
        "restatement": row.restatement,
    }


def render_versions(
    report: str,
    week: date,
    versions: list[Any],
    key_columns: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
) -> str:
    from amc_reports.warehouse.restatement import measure_sums
    from amc_reports.warehouse.versions import describe_change

    lines = [f"{report}, week {week}: {len(versions)} version(s), oldest first"]
    for version in versions:
        row = version.version
        amc_id = version.execution.amc_execution_id if version.execution else "?"
        lines.append(
            f"  {row.execution_id}  AMC {amc_id}  {row.amc_instance}  "
            f"loaded {row.loaded_at:%Y-%m-%d %H:%M:%S %Z}  {version.label:<11}  "
            f"{row.state:<7}  {row.row_count} rows"
        )
        summed = measure_sums(row.sums or {}, key_columns or (), measures)
        if summed:
            sums = ", ".join(f"{name}={value}" for name, value in sorted(summed.items()))
            lines.append(f"      sums: {sums}")
        elif not row.sums and not row.restatement and row.state == "current":
            lines.append("      sums: measured when the week is collected again")
        if row.restatement:
            lines.append(f"      changed: {describe_change(row.restatement)}")
    lines.append("Compare two with --diff OLD NEW (execution ids or their first characters).")
    return "\n".join(lines)


def render_diff(changes: dict[str, Any]) -> str:
    from amc_reports.warehouse.restatement import judged_sums, sums_pending
    from amc_reports.warehouse.versions import describe_change

    how = "recorded at the load" if changes.get("recorded") else "computed now"
    if changes.get("completed_now"):
        how += "; compared now"
    lines = [
        f"from execution {changes['previous_execution_id']} ({how}): {describe_change(changes)}"
    ]
    if changes.get("key_columns"):
        lines.append(f"  rows matched by: {', '.join(changes['key_columns'])}")
    if sums_pending(changes):
        lines.append("  sums: not compared (a version's rows are gone)")
    for name, values in judged_sums(changes).items():
        relative = values.get("relative_change")
        shown = "n/a" if relative is None else f"{100 * relative:+.3f} %"
        lines.append(f"  {name}: {values.get('before')} -> {values.get('after')} ({shown})")
    return "\n".join(lines)
