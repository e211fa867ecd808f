"""Where local state lives: embedded Postgres, sandbox state, logs (one gitignored folder)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The folder for local state: `AMC_REPORTS_HOME`, else `<project>/.amc_reports`."""
    configured = os.environ.get("AMC_REPORTS_HOME")
    path = Path(configured).expanduser() if configured else PROJECT_ROOT / ".amc_reports"
    path.mkdir(parents=True, exist_ok=True)
    return path
