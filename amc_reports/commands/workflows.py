"""`amc-reports sync-workflows`: keep each report's SQL as an AMC saved workflow on each of its
instances, and report workflows edited in AMC (drift). See `amc_reports.workflow_sync`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from amc_reports.commands import add_command


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "sync-workflows",
        run_sync_workflows,
        "create or update AMC saved workflows from the reports' SQL; report drift",
        reads_config=True,
        description=(
            "For each report with SQL and each of its instances: create the saved workflow "
            "amc_reports_<report> in AMC, update it when the report's SQL or parameters changed "
            "since the last sync, and report drift when it was edited in AMC (not overwritten "
            "without --force). Each sync is recorded in the warehouse (workflow_syncs). Exit 0 "
            "when every workflow is in sync, 1 when one drifted or failed, 2 on a configuration "
            "error."
        ),
    )
    parser.add_argument("--report", action="append", help="only this report (repeatable)")
    parser.add_argument("--instance", action="append", help="only this instance alias")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change; write nothing"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite workflows that were edited in AMC"
    )


def run_sync_workflows(args: argparse.Namespace) -> int:
    from amc_reports.config import ConfigError, load_config
    from amc_reports.environment import (
        EnvironmentConfigError,
        build_amc_resource,
        build_warehouse_resource,
        resolved,
    )
    from amc_reports.warehouse.connection import DatabaseConfigError
    from amc_reports.warehouse.workflow_syncs import WorkflowSyncs
    from amc_reports.workflow_sync import WorkflowSync

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    unknown = sorted(set(args.report or ()) - set(config.reports)) + sorted(
        set(args.instance or ()) - set(config.instances)
    )
    if unknown:
        print(f"error: not in {config.path}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    targets = [
        t
        for t in config.targets()
        if (not args.report or t.report.name in args.report)
        and (not args.instance or t.instance.alias in args.instance)
    ]
    try:
        amc = resolved(build_amc_resource(profiles=config.profiles))
        store = resolved(build_warehouse_resource(config=config)).get_warehouse()
    except (EnvironmentConfigError, DatabaseConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sync = WorkflowSync(
        amc.get_client, WorkflowSyncs(store.connect), dry_run=args.dry_run, force=args.force
    )
    results = sync.run(targets)
    for result in results:
        print(result.describe())
    counts = Counter(r.outcome_text for r in results)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    print(f"{len(results)} workflow(s){' (dry run)' if args.dry_run else ''}: {summary or 'none'}")
    return 1 if any(r.needs_attention for r in results) else 0
