"""`amc-reports`: operator commands (verify lineage, validate config, run the sandbox, migrate,
test notifications)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amc-reports", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from amc_reports.commands import add_command
    from amc_reports.commands import history as history_cli
    from amc_reports.commands import instances as instances_cli
    from amc_reports.commands import sql as sql_cli
    from amc_reports.commands import status as status_cli
    from amc_reports.commands import warehouse as warehouse_cli
    from amc_reports.commands import workflows as workflows_cli
    from amc_reports.environment import local_settings
    from amc_reports.local.sandbox import cli as sandbox_cli
    from amc_reports.orchestration.pools import DEFAULT_QUEUE_AHEAD

    warehouse_cli.register(sub)
    status_cli.register(sub)
    history_cli.register(sub)
    instances_cli.register(sub)
    workflows_cli.register(sub)
    sandbox_cli.register(sub, default_state_dir=local_settings().sandbox_dir)
    sql_cli.register(sub)

    add_command(
        sub,
        "validate-config",
        _validate_config,
        "check reports.yaml and list the reports it defines",
        reads_config=True,
    )
    add_command(
        sub,
        "config-schema",
        _config_schema,
        "print the JSON schema of reports files (the content of reports.schema.json)",
    )
    pools = add_command(
        sub,
        "init-pools",
        _init_pools,
        "create the Dagster concurrency pool of every AMC instance (run before the daemon)",
        reads_config=True,
    )
    pools.add_argument(
        "--queue-ahead",
        type=int,
        default=DEFAULT_QUEUE_AHEAD,
        help=(
            "weeks per instance submitted beyond AMC's 10 running executions, waiting PENDING at "
            "AMC for the next free slot (within the account's 200; 0: none; default "
            f"{DEFAULT_QUEUE_AHEAD})"
        ),
    )
    add_command(
        sub,
        "notify-test",
        _notify_test,
        "send a test notification to every AMC_REPORTS_NOTIFY_URLS target, say which got it",
    )

    code_server = sub.add_parser(
        "code-server",
        help=(
            "the code location's gRPC server (`dagster api grpc` with the same options) whose "
            "run workers fork from a preloaded process: seconds of CPU less per run"
        ),
        # Every option belongs to `dagster api grpc` (`amc-reports code-server --help` shows them).
        prefix_chars="+",
    )
    code_server.add_argument("grpc_args", nargs=argparse.REMAINDER)
    code_server.set_defaults(func=_code_server)

    add_command(
        sub,
        "stop-local",
        _stop_local,
        "stop the background AMC sandbox and embedded PostgreSQL of this project",
    )
    return parser


def _code_server(args: argparse.Namespace) -> int:
    from amc_reports.code_server import main as serve

    return serve(args.grpc_args)


def _stop_local(args: argparse.Namespace) -> int:
    """Stop the services `make dev` starts on demand (they also stop by themselves when idle)."""
    from amc_reports.environment import local_settings
    from amc_reports.local.postgres import embedded_server
    from amc_reports.local.sandbox import stop_sandbox

    local = local_settings()
    sandbox = stop_sandbox(local.sandbox_dir)
    print("AMC sandbox: " + ("stopped" if sandbox else "not running"))
    postgres = embedded_server(local.pgdata, local.pg_idle_seconds).stop()
    print("embedded PostgreSQL: " + ("stopped" if postgres else "not running"))
    return 0


def _notify_test(args: argparse.Namespace) -> int:
    """Send one test message through the notification settings the deployment would use."""
    from amc_reports.environment import NOTIFY_URLS_VAR, build_notifier_resource, resolved
    from amc_reports.notify import Message, Severity

    notifier = resolved(build_notifier_resource()).get_notifier()
    if not notifier.enabled:
        print(
            f"Notifications are off: set {NOTIFY_URLS_VAR} to one or more apprise URLs "
            "(https://github.com/caronc/apprise/wiki), separated by spaces or commas.",
            file=sys.stderr,
        )
        return 1
    for problem in notifier.problems:
        print(problem, file=sys.stderr)
    delivery = notifier.send_message(
        Message(
            title="[amc_reports] test notification",
            body=(
                "Notifications from amc_reports reach this channel: failed weeks, a tripped "
                "circuit breaker, stale reports and ERROR checks. Runs are linked at "
                f"{notifier.ui_url}."
            ),
            severity=Severity.WARNING,
        )
    )
    for label in delivery.sent:
        print(f"notification target {label}: sent")
    for label, why in delivery.failed.items():
        print(f"notification target {label}: NOT sent: {why}", file=sys.stderr)
    return 0 if delivery.ok else 1


def _init_pools(args: argparse.Namespace) -> int:
    """Create each instance's pool (amc_<alias>) with the limit of `orchestration.pools`.

    Dagster creates a pool lazily the first time a queued run needs it, and the daemon's first
    pass over such runs does not yet see the pool's limit: a first backfill would start every run
    at once. Creating the pools up front closes that gap; the limits are set explicitly (not
    from dagster.yaml's default), so they also hold the queue-ahead weeks.
    """
    import dagster as dg

    from amc_reports.commands import load_config_or_explain
    from amc_reports.orchestration.pools import pool_limits

    config = load_config_or_explain(args.config)
    if config is None:
        return 1
    try:
        limits = pool_limits(config, args.queue_ahead)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    storage = dg.DagsterInstance.get().event_log_storage
    for limit in limits.values():
        storage.set_concurrency_slots(limit.pool, limit.runs)
        print(
            f"pool {limit.pool}: {limit.runs} run(s) at once, {limit.weeks_per_run} week(s) per "
            f"run: up to {limit.weeks_in_flight} weeks at AMC ({limit.queue_ahead} queued ahead)"
        )
    return 0


def _validate_config(args: argparse.Namespace) -> int:
    from amc_reports.commands import load_config_or_explain
    from amc_reports.commands.sql import sql_problems

    config = load_config_or_explain(args.config)
    if config is None:
        return 1
    problems = sql_problems(config)
    if problems:
        print(
            f"{config.path}: {len(problems)} report(s) with SQL that does not parse:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    from amc_reports.orchestration.kpis import build_campaign_kpis

    try:  # the same refusals the code location makes
        kpi_assets = build_campaign_kpis(config).assets
    except ValueError as exc:
        print(f"{config.path}: {exc}", file=sys.stderr)
        return 1
    targets = config.targets()
    # What the UI shows: an asset per report and instance, and the campaign KPIs' assets.
    print(
        f"{config.path}: {len(config.reports)} report(s) on {len(config.instances)} instance(s), "
        f"{len(targets) + len(kpi_assets)} asset(s)"
        + (f" ({len(kpi_assets)} of campaign KPIs)" if kpi_assets else "")
    )
    for report, instance in targets:
        query = f"workflow {report.workflow_id}" if report.workflow_id else "sql"
        templated = ", templated parameters" if report.is_templated else ""
        print(
            f"  amc/{instance.alias}/{report.name}: from {report.start_date}, weeks start "
            f"{report.week_starts_on} ({report.timezone}), lag {report.lag_days} d, {query}"
            f"{templated}, profile {instance.profile}, "
            f"schedule {'on' if report.schedule else 'off'}"
        )
    for asset in kpi_assets:
        [spec] = asset.specs
        upstream = ", ".join(dep.asset_key.to_user_string() for dep in spec.deps)
        print(f"  {asset.key.to_user_string()}: campaign KPIs of {upstream}")
    return 0


def _config_schema(args: argparse.Namespace) -> int:
    """The JSON schema editors validate reports files with (`reports.schema.json`)."""
    from amc_reports.config.schema import json_schema_text

    sys.stdout.write(json_schema_text())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from amc_reports.environment import EnvironmentConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EnvironmentConfigError as exc:
        # Every command chooses local or production the way the definitions do.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in LOCAL_EXTRA_MODULES:
            raise
        print(
            f"error: `amc-reports {args.command}` needs the local stand-ins (the AMC sandbox, "
            f"the embedded PostgreSQL), which this install lacks (no module {exc.name!r}): "
            "install them with pip install 'amc_reports[local]'.",
            file=sys.stderr,
        )
        return 2


# The `local` extra's modules (pyproject.toml): absent from production installs.
LOCAL_EXTRA_MODULES = frozenset({"duckdb", "pgserver", "starlette", "uvicorn"})


if __name__ == "__main__":
    sys.exit(main())
