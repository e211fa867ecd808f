"""``amc-reports sandbox``: run the AMC sandbox server in the foreground."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from amc_reports.local.sandbox.constants import DEFAULT_HOST, DEFAULT_PORT
from amc_reports.paths import DEFAULT_HOME

HELP = "run the local AMC sandbox server (LwA + AMC reporting API look-alike) in the foreground"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 = any free port)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="folder for state, config and log (default <project>/.amc_reports/sandbox)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML/JSON config file (faults, timings, results)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time from create to SUCCEEDED when a RUNNING slot is free (config latency_seconds)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        metavar="N",
        help="invented rows per execution instead of running the SQL (config rows)",
    )
    parser.add_argument(
        "--parts", type=int, default=None, metavar="N", help="CSV parts per result (config parts)"
    )
    parser.add_argument(
        "--token-expires-in",
        type=int,
        default=None,
        metavar="SECONDS",
        help="lifetime of access tokens (config token_expires_in)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=0,
        metavar="SECONDS",
        help="stop after this long without any request (0 = never)",
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def handler(args: argparse.Namespace) -> int:
    from amc_reports.local.sandbox.server import serve, setup_logging

    setup_logging(args.log_level)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("amc_reports.local.sandbox").warning(
            "listening on %s: the sandbox has no real security, keep it off shared networks",
            args.host,
        )
    overrides = {
        "latency_seconds": args.latency,
        "rows": args.rows,
        "parts": args.parts,
        "token_expires_in": args.token_expires_in,
    }
    return serve(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir or args.default_state_dir,
        config_file=args.config,
        overrides=overrides,
        idle_timeout=args.idle_timeout,
        access_log=not args.no_access_log,
        log_level=args.log_level,
    )


def register(subparsers, *, default_state_dir: Path) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("sandbox", help=HELP, description=HELP)
    add_arguments(parser)
    parser.set_defaults(func=handler, default_state_dir=default_state_dir)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amc_reports.local.sandbox", description=HELP)
    add_arguments(parser)
    parser.set_defaults(default_state_dir=DEFAULT_HOME / "sandbox")
    args = parser.parse_args(argv)
    return handler(args)
