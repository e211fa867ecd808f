"""The configuration the code reads: instances, reports and the (report, instance) pairs.

Built by `loader.py` from a validated `schema.ReportsFile`, with aliases resolved into
`InstanceConfig`s and `sql_file`s read: nothing here can fail on a file that loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

from amc_reports.config import templates
from amc_reports.config.profiles import ProfileEnvVars, profile_env_vars
from amc_reports.config.rules import DEFAULT_PROFILE, WEEK_STARTS


@dataclass(frozen=True)
class InstanceConfig:
    """One AMC instance, under a short alias used in asset keys, groups and pools."""

    alias: str
    instance_id: str
    advertiser_id: str
    marketplace_id: str
    region: str = "NA"
    description: str = ""
    profile: str = DEFAULT_PROFILE
    tags: tuple[str, ...] = ()
    # Left out of == and hash (a mapping is not hashable): aliases are unique in a config.
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool shared by every report of this instance."""
        return f"amc_{self.alias}"

    @property
    def credential_env_vars(self) -> ProfileEnvVars:
        """The names of the variables holding this instance's profile's credentials."""
        return profile_env_vars(self.profile)


class MultipleInstancesError(ValueError):
    """`report.instance` of a report that runs on several instances."""


@dataclass(frozen=True)
class ReportConfig:
    """One report: an AMC query collected week by week from one or more instances."""

    name: str
    instances: tuple[InstanceConfig, ...]
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
    max_attempts: int = 3
    provisional_weeks: Literal["skip", "collect"] = "skip"
    key_columns: tuple[str, ...] | None = None
    restatement_tolerance: float = 0.01
    history_retention: Literal["keep"] | int = "keep"

    @property
    def instance(self) -> InstanceConfig:
        """The report's one instance; MultipleInstancesError when it fans out over several."""
        if len(self.instances) != 1:
            aliases = ", ".join(i.alias for i in self.instances)
            raise MultipleInstancesError(
                f"report {self.name!r} runs on {len(self.instances)} instances ({aliases}): "
                "use report.instances or config.targets()"
            )
        return self.instances[0]

    @property
    def week_start_weekday(self) -> int:
        return WEEK_STARTS[self.week_starts_on]

    @property
    def is_templated(self) -> bool:
        """True when a parameter depends on the week or the instance (`{{...}}`)."""
        return any(templates.is_templated(value) for value in self.parameters.values())

    @property
    def history_retention_days(self) -> int | None:
        """Days replaced rows stay in history; None keeps them forever."""
        return None if self.history_retention == "keep" else int(self.history_retention)

    def fingerprint_for(self, resolved_parameters: Mapping[str, Any]) -> str:
        """A hash of what AMC runs for one (instance, week): SQL or workflow, resolved parameters.

        The resume key: an execution is only resumed or adopted when its fingerprint is this.
        """
        payload = {
            "sql": (self.sql or "").strip(),
            "workflow_id": self.workflow_id,
            "parameters": dict(resolved_parameters),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def query_fingerprint(self) -> str:
        """The fingerprint of the query as written (parameters unresolved).

        Without placeholders this is the fingerprint of every execution of the report, on every
        instance and week (the same hash as before templates existed). With placeholders it
        identifies the definition (a code version); executions use `fingerprint_for(
        resolve_parameters(...))`.
        """
        return self.fingerprint_for(self.parameters)


class ReportTarget(NamedTuple):
    """One asset: a report collected from one instance (`amc/<instance>/<report>`)."""

    report: ReportConfig
    instance: InstanceConfig


@dataclass(frozen=True)
class ReportsConfig:
    """A loaded reports file: its path, instances by alias and reports by name (file order)."""

    path: Path
    instances: Mapping[str, InstanceConfig]
    reports: Mapping[str, ReportConfig]

    def targets(self) -> tuple[ReportTarget, ...]:
        """Every (report, instance) pair, one per asset: reports in file order, then each
        report's instances in the order it selects them (listed order; file order for `all`
        and tags)."""
        return tuple(
            ReportTarget(report, instance)
            for report in self.reports.values()
            for instance in report.instances
        )

    @property
    def profiles(self) -> tuple[str, ...]:
        """The credential profiles the instances use, in file order."""
        return tuple(dict.fromkeys(i.profile for i in self.instances.values()))


def resolve_parameters(
    report: ReportConfig, instance: InstanceConfig, week_start: date, week_end: date
) -> dict[str, Any]:
    """The report's parameter values for one instance and week, placeholders filled in.

    `week_end` is the week's last day (inclusive), as `WeekWindow.week_end`. Pure: the same
    inputs give the same values, so their fingerprint is a stable resume key.
    """
    if instance.alias not in {i.alias for i in report.instances}:
        raise ValueError(f"report {report.name!r} does not run on instance {instance.alias!r}")
    return {
        name: templates.render(
            value,
            week_start=week_start,
            week_end=week_end,
            instance_parameters=instance.parameters,
        )
        for name, value in report.parameters.items()
    }
