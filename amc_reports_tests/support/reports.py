"""Report configs for tests: one report (or several) on an AMC instance id of the test's own."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg

from amc_reports.config import ReportsConfig, load_config
from amc_reports.paths import PROJECT_ROOT

REPORT_SQL = (
    "SELECT event_date, campaign_id, campaign AS campaign_name, SUM(impressions) AS impressions, "
    "SUM(clicks) AS clicks, SUM(total_cost) AS spend FROM sponsored_ads_traffic GROUP BY 1, 2, 3"
)
INSTANCE_ALIAS = "test"


def shipped_configs() -> list[Path]:
    """Every reports file the project ships: reports.yaml and examples/*.yaml (found, not listed,
    so that a new example is checked as soon as it is added)."""
    return [PROJECT_ROOT / "reports.yaml", *sorted((PROJECT_ROOT / "examples").glob("*.yaml"))]


def report_yaml(sql: str = REPORT_SQL, name: str = "weekly_perf") -> str:
    """One report entry of `reports.yaml` (append more settings with `+ "    key: value\\n"`)."""
    return (
        f"  {name}:\n"
        f"    instance: {INSTANCE_ALIAS}\n"
        f"    sql: {sql}\n"
        "    start_date: 2026-03-01\n"
        "    timezone: America/New_York\n"
        "    owners: [team:qa]\n"
    )


def new_instance_id() -> str:
    """An AMC instance id of its own, so the sandbox's counts are the test's alone."""
    return f"amctest{uuid.uuid4().hex[:10]}"


def write_config(folder: Path, instance_id: str, reports: str | None = None) -> ReportsConfig:
    """Write `reports.yaml` in `folder` with the instance `test` and load it."""
    path = folder / "reports.yaml"
    path.write_text(
        f"instances:\n  {INSTANCE_ALIAS}:\n"
        f"    instance_id: {instance_id}\n"
        "    advertiser_id: ENTITYTEST\n"
        "    marketplace_id: ATVPDKIKX0DER\n"
        f"reports:\n{reports or report_yaml()}"
    )
    return load_config(path)


def collection_job(defs: dg.Definitions, asset_keys: list[dg.AssetKey]) -> dg.JobDefinition:
    """A run that collects weeks of these assets, as a per-week backfill of them plans it: the
    assets and none of their checks (there is no job per report). Each collected week's checks
    are evaluated afterwards (`ReportHarness.run_weekly_checks`)."""
    return defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(asset_keys), asset_check_selection=set()
    )
