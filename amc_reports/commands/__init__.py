"""The `amc-reports` commands, grouped by what they work on; `amc_reports.cli` assembles them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amc_reports.config import ReportsConfig


def load_config_or_explain(path: Path | None) -> ReportsConfig | None:
    """The reports config, or None after printing every problem it has to stderr."""
    from amc_reports.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
