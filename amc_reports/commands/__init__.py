"""The `amc-reports` commands, grouped by what they work on; `amc_reports.cli` assembles them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amc_reports.config import ReportsConfig

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: Any,
    name: str,
    run: Handler,
    help: str,
    *,
    description: str | None = None,
    reads_config: bool = False,
    one_report: bool = False,
    json_output: bool = False,
) -> argparse.ArgumentParser:
    """The parser of the subcommand `name`, which runs `run(args)`, with the options commands
    share: `--config` (the reports file) with `reads_config`, `--report` (only this report) with
    `one_report`, `--json` (machine-readable output) with `json_output`."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run)
    if reads_config:
        parser.add_argument(
            "--config", type=Path, default=None, help="reports file (default: AMC_REPORTS_CONFIG)"
        )
    if one_report:
        parser.add_argument("--report", help="only this report")
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def unknown_report(config: ReportsConfig, name: str) -> str:
    """What to say when the report `name` is not in the reports file."""
    known = ", ".join(config.reports) or "none"
    return f"report {name!r} is not in {config.path} (its reports: {known})"


def load_config_or_explain(path: Path | None) -> ReportsConfig | None:
    """The reports config, or None after printing every problem it has to stderr."""
    from amc_reports.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
