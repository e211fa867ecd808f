"""The single Dagster `Definitions` of the amc_reports code location, built from reports.yaml."""

from __future__ import annotations

import dagster as dg

from amc_reports.config import ReportsConfig, load_config
from amc_reports.environment import build_resources
from amc_reports.orchestration.assets import build_report_asset
from amc_reports.orchestration.checks import build_freshness_checks, build_report_checks
from amc_reports.orchestration.kpis import build_campaign_kpis
from amc_reports.orchestration.resources import NotifierResource
from amc_reports.orchestration.schedules import build_report_schedule
from amc_reports.orchestration.sensors.campaign_kpis import build_campaign_kpis_sensor
from amc_reports.orchestration.sensors.notifications import build_alert_sensor
from amc_reports.orchestration.sensors.provisional_weeks import build_final_recollection_sensor
from amc_reports.orchestration.sensors.reconciler import build_reconciler_sensor
from amc_reports.orchestration.sensors.weekly_checks import (
    build_weekly_checks_condition_sensor,
    build_weekly_checks_sensor,
)

FRESHNESS_JOB = "amc_freshness_checks"


def build_definitions(config: ReportsConfig, resources: dict | None = None) -> dg.Definitions:
    assets, checks, schedules, sensors = [], [], [], []
    for report, instance in config.targets():
        sql_path = (config.path.parent / report.sql_file).resolve() if report.sql_file else None
        assets.append(build_report_asset(report, instance, sql_path))
    freshness = build_freshness_checks(config.targets())
    # No job per report: users backfill the assets themselves (a job backfill behaves otherwise).
    for report in config.reports.values():
        checks.append(build_report_checks(report))
        if report.schedule:
            schedules.append(build_report_schedule(report))
    # The example downstream asset: campaign KPIs of weekly_campaign_performance per instance.
    kpis = build_campaign_kpis(config)
    assets.extend(kpis.assets)
    checks.extend(kpis.checks)
    if kpis.assets:
        sensors.append(build_campaign_kpis_sensor(kpis.assets))
    provisional = [t for t in config.targets() if t.report.collects_provisional]
    if provisional:
        sensors.append(build_final_recollection_sensor(provisional))
    if checks:
        sensors.append(build_weekly_checks_sensor(checks))
        sensors.append(build_weekly_checks_condition_sensor(checks))
    sensors.append(build_alert_sensor(config.targets()))
    if config.reports:
        sensors.append(build_reconciler_sensor(list(config.targets())))
    resources = dict(resources if resources is not None else build_resources(config=config))
    # Notifications are off unless configured (the alert sensor still needs its resource).
    resources.setdefault("notifier", NotifierResource())
    freshness_job = dg.define_asset_job(
        FRESHNESS_JOB,
        selection=dg.AssetSelection.checks(freshness),
        description="Check that every report's newest final week is collected.",
    )
    schedules.append(
        dg.ScheduleDefinition(
            name="amc_freshness_daily",
            job=freshness_job,
            cron_schedule="0 9 * * *",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Daily: is every report's newest final week collected?",
        )
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=[*checks, freshness],
        jobs=[freshness_job],
        schedules=schedules,
        sensors=sensors,
        resources=resources,
        # One process per run: runs are the unit of parallelism (queued, in per-instance pools),
        # so steps of a run need no process of their own.
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_config())
