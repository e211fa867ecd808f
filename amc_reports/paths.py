"""Where the project and its local state live (no environment reads: `environment` does those)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = PROJECT_ROOT / ".amc_reports"


def state_dir() -> Path:
    """The folder for local state: `AMC_REPORTS_HOME`, else `<project>/.amc_reports`."""
    configured = os.environ.get("AMC_REPORTS_HOME")
    path = Path(configured).expanduser() if configured else DEFAULT_HOME
    path.mkdir(parents=True, exist_ok=True)
    return path
