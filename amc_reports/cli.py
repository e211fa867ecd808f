"""`amc-reports`: operator commands (verify lineage, run the sandbox, migrate)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amc-reports", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from amc_reports.amc.sandbox import cli as sandbox_cli
    from amc_reports.warehouse import cli as warehouse_cli

    warehouse_cli.register(sub)
    sandbox_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
