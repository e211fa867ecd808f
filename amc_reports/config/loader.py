"""Load a reports file: YAML (bounded) -> the typed model (every problem at once)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from amc_reports.config.errors import ConfigError
from amc_reports.config.messages import problems_of
from amc_reports.config.schema import ReportsConfig
from amc_reports.config.yaml_source import read_document
from amc_reports.paths import PROJECT_ROOT

CONFIG_ENV_VAR = "AMC_REPORTS_CONFIG"
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "reports.yaml"


def config_path() -> Path:
    configured = os.environ.get(CONFIG_ENV_VAR)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_CONFIG_PATH


def load_config(path: Path | str | None = None) -> ReportsConfig:
    """Read and validate a reports file (`AMC_REPORTS_CONFIG`, else `<project>/reports.yaml`).

    Raises ConfigError listing every problem of the file, each naming the report (or instance)
    and the field; nothing else escapes for any content of the file.
    """
    path = Path(path).expanduser().resolve() if path is not None else config_path()
    return parse_config(read_document(path), path)


def parse_config(document: Any, path: Path) -> ReportsConfig:
    """Validate an already parsed document as the reports file at `path`."""
    if not isinstance(document, dict):
        raise ConfigError(path, ["top level must be a mapping with 'instances' and 'reports'"])
    try:
        return ReportsConfig.validate_document(document, path)
    except ValidationError as exc:
        raise ConfigError(path, problems_of(exc)) from None
