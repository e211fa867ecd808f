"""The example downstream asset, `amc/<instance>/campaign_kpis`: real Dagster runs, the sandbox
running the example report's SQL over HTTP, a real PostgreSQL. A KPI week names the upstream
week's execution; a week failing the report's blocking checks never feeds it, neither through
its automation condition nor by hand."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from amc_reports.config import DEFAULT_CONFIG_PATH, load_config
from amc_reports.definitions import build_definitions
from amc_reports.environment import build_resources
from amc_reports.orchestration.checks import LINEAGE_CHECK, ROW_COUNT_CHECK
from amc_reports.orchestration.kpis import (
    KPI_AUTOMATION,
    KPI_LINEAGE_CHECK,
    KPI_ROWS_CHECK,
    build_campaign_kpis,
)
from amc_reports.orchestration.sensors.campaign_kpis import KPI_SENSOR
from amc_reports.paths import PROJECT_ROOT
from amc_reports.warehouse.kpis import KPI_TABLE_NAME
from amc_reports_tests.support.reports import new_instance_id, report_yaml, write_config

REPORT = "weekly_campaign_performance"
GOOD, BAD = "2026-03-01", "2026-03-08"
KPI_KEY = dg.AssetKey(["amc", "test", "campaign_kpis"])
REPORT_KEY = dg.AssetKey(["amc", "test", REPORT])


def test_the_kpi_asset_sits_below_its_report_on_the_same_weeks():
    config = load_config(DEFAULT_CONFIG_PATH)
    defs = build_definitions(config, resources=build_resources({}, config))
    graph = defs.resolve_asset_graph()
    report_key = dg.AssetKey(["amc", "us", REPORT])
    kpi_key = dg.AssetKey(["amc", "us", "campaign_kpis"])
    node = graph.get(kpi_key)
    assert node.parent_keys == {report_key}  # the lineage graph's edge
    assert node.partitions_def == graph.get(report_key).partitions_def  # only weeks it can have
    assert node.automation_condition == KPI_AUTOMATION
    assert node.group_name == "amc_us"
    spec = defs.get_assets_def(kpi_key).specs_by_key[kpi_key]
    assert spec.metadata["dagster/table_name"] == KPI_TABLE_NAME
    assert {k.name for k in graph.asset_check_keys if k.asset_key == kpi_key} == {
        KPI_LINEAGE_CHECK,
        KPI_ROWS_CHECK,
    }
    sensor = next(s for s in defs.sensors if s.name == KPI_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # Only a report that says `campaign_kpis: true` gets KPI assets (the agency example has none).
    agency = load_config(PROJECT_ROOT / "examples" / "agency.yaml")
    agency_defs = build_definitions(agency, resources=build_resources({}, agency))
    assert not [
        k
        for k in agency_defs.resolve_asset_graph().get_all_asset_keys()
        if "campaign_kpis" in k.path
    ]


def test_campaign_kpis_from_a_report_that_cannot_feed_them_are_refused(tmp_path):
    sql = (PROJECT_ROOT / "reports" / "sql" / f"{REPORT}.sql").read_text()
    block = "".join(f"      {line}\n" for line in sql.splitlines())
    lacking = write_config(
        tmp_path, new_instance_id(), report_yaml(name="plain") + "    campaign_kpis: true\n"
    )
    with pytest.raises(ValueError, match=r"report 'plain' has campaign_kpis: true.*impressions"):
        build_campaign_kpis(lacking)
    feeding = report_yaml(sql=f"|\n{block}", name="{name}") + "    campaign_kpis: true\n"
    twice = write_config(
        tmp_path, new_instance_id(), feeding.replace("{name}", "a") + feeding.replace("{name}", "b")
    )
    with pytest.raises(ValueError, match="reports 'a' and 'b' both have campaign_kpis: true"):
        build_campaign_kpis(twice)


@pytest.fixture
def kpi_harness(harness_factory):
    sql = (PROJECT_ROOT / "reports" / "sql" / f"{REPORT}.sql").read_text()
    block = "".join(f"      {line}\n" for line in sql.splitlines())
    harness = harness_factory(
        report_yaml(sql=f"|\n{block}", name=REPORT) + "    campaign_kpis: true\n"
    )
    # The sandbox runs the report's SQL on synthetic AMC data (a few campaigns a week).
    harness.set_faults(rows=None, impressions_per_day=5_000)
    return harness


def materialize_kpis(harness, week: str) -> dg.ExecuteInProcessResult:
    job = (
        harness.definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={KPI_KEY}, asset_check_selection=set())
    )
    return job.execute_in_process(
        partition_key=week, instance=harness.dagster, raise_on_error=False
    )


def kpi_rows(harness, week: str) -> list[tuple]:
    with harness.warehouse.connect() as conn:
        return conn.execute(
            f"SELECT campaign_id, clicks, impressions, click_through_rate, execution_id,"
            f" amc_execution_id, upstream_provisional FROM {KPI_TABLE_NAME}"
            " WHERE week_start_date = %s ORDER BY campaign_id",
            (date.fromisoformat(week),),
        ).fetchall()


def test_a_kpi_week_names_the_upstream_weeks_execution(kpi_harness):
    harness = kpi_harness
    assert harness.materialize(GOOD).success
    upstream = harness.warehouse.get_week(REPORT, date.fromisoformat(GOOD), "test")

    result = materialize_kpis(harness, GOOD)
    assert result.success
    rows = kpi_rows(harness, GOOD)
    names, stored = harness.warehouse.sample_rows(REPORT, date.fromisoformat(GOOD), 1000, "test")
    campaigns = {str(row[names.index("campaign_id")]) for row in stored}
    assert rows and {r[0] for r in rows} == campaigns  # one KPI row per upstream campaign
    for _campaign, clicks, impressions, ctr, execution_id, amc_execution_id, provisional in rows:
        assert (execution_id, amc_execution_id) == (
            upstream.execution_id,
            upstream.amc_execution_id,
        )
        assert provisional is upstream.provisional
        assert ctr == pytest.approx(clicks / impressions)
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["execution_id"].value == str(upstream.execution_id)
    assert metadata["dagster/row_count"].value == len(rows)

    checks = harness.run_weekly_checks()
    assert checks[(GOOD, KPI_LINEAGE_CHECK)].passed
    assert checks[(GOOD, KPI_ROWS_CHECK)].passed

    # The report's week is collected again: the KPI week is now stale, and its check says so
    # (run by hand here: the KPI checks follow a KPI materialization, and there was none).
    assert harness.materialize(GOOD).success
    job = harness.definitions().resolve_implicit_global_asset_job_def()
    executed = job.get_subset(
        asset_selection=set(), asset_check_selection={dg.AssetCheckKey(KPI_KEY, KPI_LINEAGE_CHECK)}
    ).execute_in_process(partition_key=GOOD, instance=harness.dagster, raise_on_error=False)
    [stale] = executed.get_asset_check_evaluations()
    assert not stale.passed and "Stale" in stale.description
    assert stale.severity == dg.AssetCheckSeverity.WARN


def test_a_week_failing_upstream_checks_never_feeds_the_kpis(kpi_harness):
    harness = kpi_harness
    defs = harness.definitions()
    only_kpis = dg.AssetSelection.assets(KPI_KEY)
    cursor = dg.evaluate_automation_conditions(
        defs=defs, instance=harness.dagster, asset_selection=only_kpis
    ).cursor

    assert harness.materialize(GOOD).success
    assert harness.materialize(BAD).success
    with harness.warehouse.connect() as conn:  # the week row now names another AMC execution
        conn.execute(
            "UPDATE report_data_weeks SET amc_execution_id = 'tampered' "
            "WHERE report = %s AND week_start_date = %s",
            (REPORT, date.fromisoformat(BAD)),
        )
    checks = harness.run_weekly_checks()
    assert checks[(GOOD, LINEAGE_CHECK)].passed
    assert not checks[(BAD, LINEAGE_CHECK)].passed

    # Automation: only the week whose blocking checks passed is requested.
    evaluated = dg.evaluate_automation_conditions(
        defs=defs, instance=harness.dagster, asset_selection=only_kpis, cursor=cursor
    )
    assert evaluated.get_requested_partitions(KPI_KEY) == {GOOD}

    # By hand: refused, naming the week and the failing check; nothing stored.
    refused = materialize_kpis(harness, BAD)
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error.message)
    assert BAD in message and LINEAGE_CHECK in message and "tampered" in message
    assert kpi_rows(harness, BAD) == []
    assert not refused.get_asset_materialization_events()

    # Row counts are blocking too: a week missing a stored row is refused as well.
    table = harness.warehouse.results_table(REPORT)
    with harness.warehouse.connect() as conn:
        conn.execute(
            f"DELETE FROM {table} WHERE week_start_date = %s AND campaign_id = ("
            f"SELECT min(campaign_id) FROM {table} WHERE week_start_date = %s)",
            (date.fromisoformat(GOOD),) * 2,
        )
    refused = materialize_kpis(harness, GOOD)
    assert not refused.success
    assert kpi_rows(harness, GOOD) == []
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    assert ROW_COUNT_CHECK in str(failure.step_failure_data.error.message)
