"""The code location loads, and its specs are what the UI shows (a change shows up here)."""

import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest

from amc_reports.config import DEFAULT_CONFIG_PATH, load_config
from amc_reports.definitions import build_definitions, defs
from amc_reports.environment import build_notifier_resource, build_resources
from amc_reports.orchestration.checks import (
    AFTER_EACH_COLLECTED_WEEK,
    FRESHNESS_CHECK,
    LINEAGE_CHECK,
    ROW_COUNT_CHECK,
    WEEKLY_CHECKS,
)
from amc_reports.orchestration.kpis import KPI_ASSET, KPI_ROWS_CHECK
from amc_reports.orchestration.local_resources import EmbeddedWarehouseResource
from amc_reports.orchestration.resources import NotifierResource
from amc_reports.orchestration.schedules import cron_for
from amc_reports.orchestration.sensors.notifications import ALERT_SENSOR
from amc_reports.orchestration.sensors.weekly_checks import (
    WEEKLY_CHECKS_BY_CONDITION_SENSOR,
    WEEKLY_CHECKS_SENSOR,
)

CONFIG = load_config(DEFAULT_CONFIG_PATH)


def test_definitions_validate_loadable():
    dg.Definitions.validate_loadable(defs)


def test_one_asset_per_report_with_key_pool_group_owners_and_table():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    kpis = {
        f"amc/{i.alias}/{KPI_ASSET}"
        for r in CONFIG.reports.values()
        if r.campaign_kpis
        for i in r.instances
    }
    assert kpis  # the shipped reports.yaml computes the campaign KPIs of one report
    assert keys == {f"amc/{r.instance.alias}/{r.name}" for r in CONFIG.reports.values()} | kpis
    for report in CONFIG.reports.values():
        key = dg.AssetKey(["amc", report.instance.alias, report.name])
        node = graph.get(key)
        spec = defs.get_assets_def(key).specs_by_key[key]
        assert node.group_name == f"amc_{report.instance.alias}"
        assert spec.owners == list(report.owners)
        assert set(spec.kinds) == {"amc", "postgres"}
        assert spec.metadata["dagster/table_name"] == f"amc_results.{report.name}"
        assert report.sql.splitlines()[1].strip() in spec.description  # the SQL is shown
        assert defs.get_assets_def(key).op.pool == f"amc_{report.instance.alias}"
        partitions = node.partitions_def
        assert isinstance(partitions, dg.WeeklyPartitionsDefinition)
        assert partitions.get_first_partition_key() == report.start_date.isoformat()
        assert partitions.timezone == report.timezone
        # Tags to filter the catalog by; a link from the asset to its SQL file.
        tags = {k: v for k, v in spec.tags.items() if not k.startswith("dagster/kind/")}
        assert tags == {
            "amc_instance": report.instance.alias,
            "region": report.instance.region.lower(),
        }
        [reference] = spec.metadata["dagster/code_references"].code_references
        assert reference.file_path == str(CONFIG.path.parent / report.sql_file)


def test_every_report_has_its_checks_and_no_job_of_its_own():
    graph = defs.resolve_asset_graph()
    check_keys = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    for report in CONFIG.reports.values():
        for name in (*WEEKLY_CHECKS, FRESHNESS_CHECK):
            assert (report.name, name) in check_keys
    # Users backfill the assets: no per-report job that would invite a job backfill.
    assert {job.name for job in defs.jobs} == {"amc_freshness_checks"}


def test_runs_that_collect_weeks_plan_no_checks():
    """A failed collection would mark every check planned in its run "Execution failed": the
    schedules that collect weeks select the assets only."""
    graph = defs.resolve_asset_graph()
    jobs = [s.job_name for s in defs.schedules if s.name != "amc_freshness_daily"]
    assert jobs
    for name in jobs:
        job = defs.resolve_job_def(name)
        assert job.asset_layer.asset_graph.asset_check_keys == set(), name
        assert job.asset_layer.asset_graph.get_all_asset_keys()
    # The weekly checks run after each collected week, in runs of their own (they have their own
    # automation condition, so they never ride along in a run that collects); the ERROR ones
    # block what is built downstream of a report.
    for key in graph.asset_check_keys:
        node = graph.get(key)
        if key.name in WEEKLY_CHECKS:
            assert node.automation_condition == AFTER_EACH_COLLECTED_WEEK
            assert node.blocking == (key.name in (LINEAGE_CHECK, ROW_COUNT_CHECK))
        elif key.asset_key.path[-1] == KPI_ASSET:  # the KPI checks follow each KPI week
            assert node.automation_condition == AFTER_EACH_COLLECTED_WEEK
            assert node.blocking == (key.name == KPI_ROWS_CHECK)  # its ERROR check
        else:
            assert key.name == FRESHNESS_CHECK and node.automation_condition is None
    sensors = {s.name: s for s in defs.sensors}
    assert sensors[WEEKLY_CHECKS_SENSOR].default_status == dg.DefaultSensorStatus.RUNNING
    # Dagster's evaluation of the same rule is there, stopped (and no default automation sensor).
    assert sensors[WEEKLY_CHECKS_BY_CONDITION_SENSOR].default_status == (
        dg.DefaultSensorStatus.STOPPED
    )
    repository_sensors = {s.name for s in defs.get_repository_def().sensor_defs}
    assert WEEKLY_CHECKS_BY_CONDITION_SENSOR in repository_sensors
    assert "default_automation_condition_sensor" not in repository_sensors
    assert sensors[ALERT_SENSOR].default_status == dg.DefaultSensorStatus.RUNNING


def test_notifications_are_an_env_var_and_off_when_unset():
    resource = build_notifier_resource(
        {"AMC_REPORTS_NOTIFY_URLS": "slack://T/B/C", "AMC_REPORTS_UI_URL": "https://dagster.x"}
    )
    assert isinstance(resource.urls, dg.EnvVar)  # never the value itself
    assert resource.ui_url == "https://dagster.x"
    off = build_resources({})["notifier"]
    assert isinstance(off, NotifierResource) and not off.enabled
    assert off.ui_url == "http://127.0.0.1:3000"
    assert off.heal_wait_seconds == 600  # the reconciler's time to heal a failed week
    quick = build_notifier_resource({"AMC_REPORTS_NOTIFY_HEAL_SECONDS": "0"})
    assert quick.heal_wait_seconds == 0
    with pytest.raises(ValueError, match="AMC_REPORTS_NOTIFY_HEAL_SECONDS must be a number"):
        build_notifier_resource({"AMC_REPORTS_NOTIFY_HEAL_SECONDS": "soon"})


def test_schedules_only_for_reports_that_want_one():
    names = {s.name for s in defs.schedules}
    for report in CONFIG.reports.values():
        assert (f"{report.name}_weekly" in names) == report.schedule
    assert "amc_freshness_daily" in names


@pytest.mark.parametrize(
    "report_name", sorted(r.name for r in CONFIG.reports.values() if r.schedule)
)
def test_schedule_tick_requests_the_newest_final_week(report_name):
    report = CONFIG.reports[report_name]
    schedule = defs.resolve_schedule_def(f"{report_name}_weekly")
    assert schedule.cron_schedule == cron_for(report)
    assert schedule.execution_timezone == report.timezone
    # Sunday 2026-11-29 12:00 UTC.
    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    data = schedule.evaluate_tick(context)
    assert data.run_requests and len(data.run_requests) == 1
    request = data.run_requests[0]
    expected = {
        # Sunday weeks, 14-day lag, New York: week 2026-11-08..14 ended 11-15, final 11-29 00:00.
        ("sunday", 14, "skip"): "2026-11-08",
        # Monday weeks, 7-day lag, Berlin, collected as soon as they end: week 11-16..22 ended
        # 11-23 (final 11-30: collected as provisional).
        ("monday", 7, "collect"): "2026-11-16",
        ("monday", 14, "skip"): "2026-11-02",
    }[(report.week_starts_on, report.lag_days, report.provisional_weeks)]
    assert request.partition_key == expected
    instance = CONFIG.reports[report_name].instance.alias
    assert request.run_key == f"{report_name}:{instance}:{expected}"


def test_schedule_skips_before_the_first_week(tmp_path):
    report = next(r for r in CONFIG.reports.values() if r.schedule)
    schedule = defs.resolve_schedule_def(f"{report.name}_weekly")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 5, tzinfo=UTC))
    data = schedule.evaluate_tick(context)
    assert not data.run_requests and data.skip_message


def test_cron_fires_on_the_day_a_week_becomes_final():
    by_name = CONFIG.reports
    assert cron_for(by_name["weekly_campaign_performance"]) == "0 6 * * 0"  # Sunday + 14 days
    assert cron_for(by_name["reach_and_frequency"]) == "0 6 * * 1"  # Monday: a week is offered


def test_database_url_is_an_env_var_not_a_value():
    env = {"AMC_REPORTS_ENV": "local", "AMC_REPORTS_DATABASE_URL": "postgresql://u:pw@h/db"}
    resources = build_resources(env)
    assert isinstance(resources["warehouse"].database_url, dg.EnvVar)
    assert isinstance(build_resources({})["warehouse"], EmbeddedWarehouseResource)


def test_build_definitions_from_another_config(tmp_path):
    (tmp_path / "reports.yaml").write_text(
        "instances:\n  x:\n    instance_id: amc1\n    advertiser_id: E\n    marketplace_id: M\n"
        "reports:\n  only:\n    instance: x\n    sql: SELECT 1 AS a\n    start_date: 2026-03-02\n"
        "    week_starts_on: monday\n    schedule: false\n"
    )
    other = build_definitions(load_config(tmp_path / "reports.yaml"), resources=build_resources({}))
    keys = {k.to_user_string() for k in other.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"amc/x/only"}


def test_the_code_location_loads_without_a_warning():
    """What `make dev` prints of it: every warning an error, but those we filter knowingly."""
    loaded = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import amc_reports.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
