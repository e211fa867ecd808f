"""Load and validate `reports.yaml`: AMC instances and the reports collected from them.

Every error names the file, the report (or instance) and the field, and all problems of a file are
reported at once, so an analyst fixes a config in one pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from amc_reports.paths import PROJECT_ROOT

CONFIG_ENV_VAR = "AMC_REPORTS_CONFIG"
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "reports.yaml"

# Names become Postgres table names, Dagster asset keys and pool names: keep them boring.
SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
OWNER = re.compile(r"^(team:[A-Za-z0-9_.\-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")
REGIONS = ("NA", "EU", "FE")
WEEK_STARTS = {"sunday": 6, "monday": 0}  # Python weekday() numbers
# AMC runs at most this many executions of one instance at once (more are queued by AMC).
AMC_MAX_RUNNING_PER_INSTANCE = 10

_INSTANCE_KEYS = {"instance_id", "advertiser_id", "marketplace_id", "region", "description"}
_REPORT_KEYS = {
    "instance",
    "sql",
    "sql_file",
    "workflow_id",
    "parameters",
    "start_date",
    "week_starts_on",
    "timezone",
    "lag_days",
    "description",
    "owners",
    "schedule",
    "ignore_data_gaps",
    "timeout_seconds",
    "backfill_weeks_per_run",
}


class ConfigError(ValueError):
    """One or more problems in a reports file; the message lists each with its location."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the reports config:\n{lines}")


@dataclass(frozen=True)
class InstanceConfig:
    """One AMC instance, under a short alias used in asset keys, groups and pools."""

    alias: str
    instance_id: str
    advertiser_id: str
    marketplace_id: str
    region: str = "NA"
    description: str = ""

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool shared by every report of this instance."""
        return f"amc_{self.alias}"


@dataclass(frozen=True)
class ReportConfig:
    """One report: an AMC query on one instance, collected week by week."""

    name: str
    instance: InstanceConfig
    start_date: date
    sql: str | None = None
    sql_file: str | None = None
    workflow_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    week_starts_on: str = "sunday"
    timezone: str = "UTC"
    lag_days: int = 14
    description: str = ""
    owners: tuple[str, ...] = ()
    schedule: bool = True
    ignore_data_gaps: bool = False
    timeout_seconds: int | None = None
    backfill_weeks_per_run: int = 1

    @property
    def query_fingerprint(self) -> str:
        """A hash of what AMC runs (SQL or saved workflow, and parameters): the resume key."""
        payload = {
            "sql": (self.sql or "").strip(),
            "workflow_id": self.workflow_id,
            "parameters": dict(self.parameters),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def week_start_weekday(self) -> int:
        return WEEK_STARTS[self.week_starts_on]


@dataclass(frozen=True)
class ReportsConfig:
    path: Path
    instances: Mapping[str, InstanceConfig]
    reports: Mapping[str, ReportConfig]


def config_path() -> Path:
    configured = os.environ.get(CONFIG_ENV_VAR)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_CONFIG_PATH


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1}, again at line "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_config(path: Path | str | None = None) -> ReportsConfig:
    """Read and validate a reports file (`AMC_REPORTS_CONFIG`, else `<project>/reports.yaml`)."""
    path = Path(path).resolve() if path is not None else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, [f"file not found (set {CONFIG_ENV_VAR} to point at your reports file)"]
        ) from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from None
    return parse_config(document, path)


def parse_config(document: Any, path: Path) -> ReportsConfig:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError(path, ["top level must be a mapping with 'instances' and 'reports'"])
    for key in sorted(set(document) - {"instances", "reports"}, key=str):
        problems.append(f"unknown top-level key {key!r} (allowed: instances, reports)")

    instances = _parse_instances(document.get("instances"), problems)
    reports = _parse_reports(document.get("reports"), instances, path.parent, problems)
    if problems:
        raise ConfigError(path, problems)
    return ReportsConfig(path=path, instances=instances, reports=reports)


def _parse_instances(raw: Any, problems: list[str]) -> dict[str, InstanceConfig]:
    if not isinstance(raw, dict) or not raw:
        problems.append("'instances' must be a non-empty mapping of alias -> instance settings")
        return {}
    instances: dict[str, InstanceConfig] = {}
    for alias, body in raw.items():
        where = f"instance {alias!r}"
        if not isinstance(alias, str) or not SAFE_NAME.match(alias):
            problems.append(f"{where}: alias must match {SAFE_NAME.pattern} (lowercase, digits, _)")
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        _unknown_keys(where, body, _INSTANCE_KEYS, problems)
        values: dict[str, str] = {}
        for key in ("instance_id", "advertiser_id", "marketplace_id"):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: field {key!r} is required (a non-empty string)")
            else:
                values[key] = value.strip()
        region = str(body.get("region", "NA")).upper()
        if region not in REGIONS:
            problems.append(f"{where}: field 'region' must be one of {', '.join(REGIONS)}")
        if len(values) == 3:
            instances[alias] = InstanceConfig(
                alias=alias,
                region=region,
                description=str(body.get("description", "")),
                **values,
            )
    return instances


def _parse_reports(
    raw: Any, instances: Mapping[str, InstanceConfig], base_dir: Path, problems: list[str]
) -> dict[str, ReportConfig]:
    if not isinstance(raw, dict) or not raw:
        problems.append("'reports' must be a non-empty mapping of report name -> report settings")
        return {}
    reports: dict[str, ReportConfig] = {}
    for name, body in raw.items():
        where = f"report {name!r}"
        if not isinstance(name, str) or not SAFE_NAME.match(name):
            problems.append(
                f"{where}: name must match {SAFE_NAME.pattern} (lowercase letters, digits and _, "
                "starting with a letter; it becomes a table name and an asset key)"
            )
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        before = len(problems)
        report = _parse_report(name, body, instances, base_dir, problems)
        if report is not None and len(problems) == before:
            reports[name] = report
    return reports


def _parse_report(
    name: str,
    body: dict[str, Any],
    instances: Mapping[str, InstanceConfig],
    base_dir: Path,
    problems: list[str],
) -> ReportConfig | None:
    where = f"report {name!r}"
    _unknown_keys(where, body, _REPORT_KEYS, problems)

    instance = None
    alias = body.get("instance")
    if not isinstance(alias, str):
        problems.append(
            f"{where}: field 'instance' is required (one of the aliases under instances)"
        )
    elif alias not in instances:
        known = ", ".join(sorted(instances)) or "none defined"
        problems.append(
            f"{where}: field 'instance' names unknown instance {alias!r} (known: {known})"
        )
    else:
        instance = instances[alias]

    sql, sql_file, workflow_id = _parse_query(where, body, base_dir, problems)

    week_starts_on = str(body.get("week_starts_on", "sunday")).lower()
    if week_starts_on not in WEEK_STARTS:
        problems.append(f"{where}: field 'week_starts_on' must be 'sunday' or 'monday'")
        week_starts_on = "sunday"

    timezone = body.get("timezone", "UTC")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}: field 'timezone' {timezone!r} is not an IANA time zone")

    start_date = _parse_date(where, body.get("start_date"), problems)
    if start_date is not None and start_date.weekday() != WEEK_STARTS[week_starts_on]:
        offset = (start_date.weekday() - WEEK_STARTS[week_starts_on]) % 7
        before = start_date.toordinal() - offset
        problems.append(
            f"{where}: field 'start_date' {start_date.isoformat()} is not a {week_starts_on}; "
            f"weeks start on {week_starts_on}s (use {date.fromordinal(before).isoformat()} or "
            f"{date.fromordinal(before + 7).isoformat()})"
        )

    lag_days = body.get("lag_days", 14)
    if isinstance(lag_days, bool) or not isinstance(lag_days, int) or not 0 <= lag_days <= 90:
        problems.append(f"{where}: field 'lag_days' must be a whole number of days from 0 to 90")
        lag_days = 14

    parameters = body.get("parameters", {}) or {}
    if not isinstance(parameters, dict) or not all(isinstance(k, str) for k in parameters):
        problems.append(f"{where}: field 'parameters' must be a mapping of name -> value")
        parameters = {}

    owners = body.get("owners", []) or []
    if isinstance(owners, str):
        owners = [owners]
    if not isinstance(owners, list):
        problems.append(f"{where}: field 'owners' must be a list")
        owners = []
    for owner in owners:
        if not isinstance(owner, str) or not OWNER.match(owner):
            problems.append(f"{where}: owner {owner!r} must be an email address or 'team:<name>'")

    schedule = body.get("schedule", True)
    if not isinstance(schedule, bool):
        problems.append(f"{where}: field 'schedule' must be true or false")
        schedule = True
    ignore_data_gaps = body.get("ignore_data_gaps", False)
    if not isinstance(ignore_data_gaps, bool):
        problems.append(f"{where}: field 'ignore_data_gaps' must be true or false")
        ignore_data_gaps = False
    timeout_seconds = body.get("timeout_seconds")
    if timeout_seconds is not None and (
        isinstance(timeout_seconds, bool)
        or not isinstance(timeout_seconds, int)
        or not 60 <= timeout_seconds <= 86400
    ):
        problems.append(f"{where}: field 'timeout_seconds' must be a whole number from 60 to 86400")
        timeout_seconds = None

    weeks_per_run = body.get("backfill_weeks_per_run", 1)
    if (
        isinstance(weeks_per_run, bool)
        or not isinstance(weeks_per_run, int)
        or not (1 <= weeks_per_run <= 10)
    ):
        problems.append(
            f"{where}: field 'backfill_weeks_per_run' must be a whole number from 1 to 10"
        )
        weeks_per_run = 1

    if instance is None or start_date is None:
        return None
    return ReportConfig(
        name=name,
        instance=instance,
        start_date=start_date,
        sql=sql,
        sql_file=sql_file,
        workflow_id=workflow_id,
        parameters=dict(parameters),
        week_starts_on=week_starts_on,
        timezone=str(timezone),
        lag_days=lag_days,
        description=str(body.get("description", "")).strip(),
        owners=tuple(owners),
        schedule=schedule,
        ignore_data_gaps=ignore_data_gaps,
        timeout_seconds=timeout_seconds,
        backfill_weeks_per_run=weeks_per_run,
    )


def _parse_query(
    where: str, body: dict[str, Any], base_dir: Path, problems: list[str]
) -> tuple[str | None, str | None, str | None]:
    given = [key for key in ("sql", "sql_file", "workflow_id") if body.get(key) is not None]
    if len(given) != 1:
        problems.append(
            f"{where}: exactly one of 'sql', 'sql_file' or 'workflow_id' is required"
            + (f" (found {', '.join(given)})" if given else "")
        )
        return None, None, None
    key = given[0]
    if key == "workflow_id":
        workflow_id = body["workflow_id"]
        if not isinstance(workflow_id, str) or not workflow_id.strip():
            problems.append(f"{where}: field 'workflow_id' must be a non-empty string")
            return None, None, None
        return None, None, workflow_id.strip()
    sql_file = None
    if key == "sql_file":
        sql_file = str(body["sql_file"])
        sql_path = (base_dir / sql_file).resolve()
        try:
            sql = sql_path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(
                f"{where}: field 'sql_file' cannot be read ({sql_path}: {exc.strerror})"
            )
            return None, None, None
    else:
        sql = body["sql"]
        if not isinstance(sql, str):
            problems.append(f"{where}: field 'sql' must be a string")
            return None, None, None
    sql = sql.strip()
    field_name = "sql_file" if sql_file else "sql"
    if not _strip_sql_comments(sql).strip():
        problems.append(f"{where}: field {field_name!r} is empty")
        return None, None, None
    if sql.rstrip().endswith(";"):
        # AMC rejects a trailing semicolon; dropping it here is what the analyst meant.
        sql = sql.rstrip().rstrip(";").rstrip()
    if ";" in _strip_sql_comments(sql).replace("';'", ""):
        problems.append(f"{where}: field {field_name!r} must hold one SQL statement (found ';')")
        return None, None, None
    return sql, sql_file, None


def _strip_sql_comments(sql: str) -> str:
    without_block = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", without_block)


def _parse_date(where: str, value: Any, problems: list[str]) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(f"{where}: field 'start_date' must be a date like 2026-01-04 (got {value!r})")
    return None


def _unknown_keys(where: str, body: dict[str, Any], allowed: set[str], problems: list[str]) -> None:
    for key in sorted(set(body) - allowed, key=str):
        problems.append(f"{where}: unknown field {key!r} (allowed: {', '.join(sorted(allowed))})")
