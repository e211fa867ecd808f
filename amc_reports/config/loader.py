"""Load a reports file: YAML (bounded) -> typed model (every problem at once) -> runtime config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from amc_reports.config.context import ValidationContext
from amc_reports.config.errors import ConfigError
from amc_reports.config.messages import problems_of
from amc_reports.config.model import InstanceConfig, ReportConfig, ReportsConfig
from amc_reports.config.schema import InstanceEntry, ReportEntry, ReportsFile, selected_aliases
from amc_reports.config.values import checked_sql
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
        model, context = ReportsFile.validate_document(document, path)
    except ValidationError as exc:
        raise ConfigError(path, problems_of(exc)) from None
    return _runtime(model, context, path)


def _runtime(model: ReportsFile, context: ValidationContext, path: Path) -> ReportsConfig:
    instances = {alias: _instance(alias, entry) for alias, entry in model.instances.items()}
    reports = {
        name: _report(name, entry, instances, context) for name, entry in model.reports.items()
    }
    return ReportsConfig(path=path, instances=instances, reports=reports)


def _instance(alias: str, entry: InstanceEntry) -> InstanceConfig:
    return InstanceConfig(
        alias=alias,
        instance_id=entry.instance_id,
        advertiser_id=entry.advertiser_id,
        marketplace_id=entry.marketplace_id,
        region=entry.region,
        description=entry.description.strip(),
        profile=entry.profile,
        tags=tuple(entry.tags),
        parameters=dict(entry.parameters),
    )


def _report(
    name: str,
    entry: ReportEntry,
    instances: dict[str, InstanceConfig],
    context: ValidationContext,
) -> ReportConfig:
    sql = entry.sql
    if entry.sql_file is not None:
        # Read and checked during validation (`ReportEntry._readable_sql_file`); normalized here.
        sql = checked_sql(context.read_sql(entry.sql_file))
    aliases = selected_aliases(entry.instance, entry.instances, instances)
    return ReportConfig(
        name=name,
        instances=tuple(instances[alias] for alias in aliases),
        start_date=entry.start_date,
        sql=sql,
        sql_file=entry.sql_file,
        workflow_id=entry.workflow_id,
        parameters=dict(entry.parameters),
        week_starts_on=entry.week_starts_on,
        timezone=entry.timezone,
        lag_days=entry.lag_days,
        description=entry.description.strip(),
        owners=tuple(entry.owners),
        schedule=entry.schedule,
        ignore_data_gaps=entry.ignore_data_gaps,
        timeout_seconds=entry.timeout_seconds,
        backfill_weeks_per_run=entry.backfill_weeks_per_run,
        max_attempts=entry.max_attempts,
        provisional_weeks=entry.provisional_weeks,
        key_columns=tuple(entry.key_columns) if entry.key_columns is not None else None,
        restatement_tolerance=float(entry.restatement_tolerance),
        history_retention=entry.history_retention,
    )
