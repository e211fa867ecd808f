"""An agency's deployment for real: one report fanned out to three AMC instances under two
credential profiles, collected by Dagster runs from the sandbox over HTTP into PostgreSQL."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from psycopg import sql

from amc_reports.config import InstanceConfig, ReportsConfig, load_config, resolve_parameters
from amc_reports.definitions import build_definitions
from amc_reports.environment import build_resources
from amc_reports.local.sandbox import TOKEN_PATH, sandbox_app
from amc_reports.orchestration.local_resources import SandboxAmcResource
from amc_reports.orchestration.resources import LiveAmcResource, PostgresWarehouseResource
from amc_reports_tests.support.reports import collection_job

WEEK = "2026-03-08"
NEXT_WEEK = "2026-03-15"
WRONG_SECRET = "not-the-agency-b-secret-4711"
REPORT = "perf"
SQL = (
    "SELECT event_date, campaign_id, campaign AS campaign_name, SUM(impressions) AS impressions "
    "FROM sponsored_ads_traffic WHERE event_date >= CUSTOM_PARAMETER('since') "
    "AND campaign <> CUSTOM_PARAMETER('brand') GROUP BY 1, 2, 3"
)
FAST = {"poll_min_seconds": 0.05, "poll_max_seconds": 0.5, "retry_budget_seconds": 20}


def agency_config(folder: Path, sandbox) -> tuple[ReportsConfig, dict[str, str]]:
    """Three instances (ids of this test's own), two on `default`, one on `agency_b`; one report
    on all of them with parameters that follow the week and the instance."""
    ids = {alias: f"amc{alias}{uuid.uuid4().hex[:8]}" for alias in ("acme", "globex", "initech")}
    instances = ""
    for alias, instance_id in ids.items():
        profile = "    profile: agency_b\n" if alias == "initech" else ""
        instances += (
            f"  {alias}:\n    instance_id: {instance_id}\n"
            f"    advertiser_id: ENTITY{alias.upper()}\n"
            f"    marketplace_id: ATVPDKIKX0DER\n{profile}"
            f"    parameters: {{brand: {alias.capitalize()}}}\n"
        )
    (folder / "reports.yaml").write_text(
        f"instances:\n{instances}reports:\n  {REPORT}:\n    instances: all\n    sql: {SQL}\n"
        "    start_date: 2026-03-01\n    timezone: America/New_York\n    owners: [team:qa]\n"
        "    parameters:\n"
        '      since: "{{week_start - 28d}}"\n'
        '      brand: "{{instance.brand}}"\n'
    )
    for instance_id in ids.values():
        sandbox.patch_config({"instances": {instance_id: {"latency_seconds": 0.3, "rows": 12}}})
    return load_config(folder / "reports.yaml"), ids


def run_week(config, resources, instance, week, *, aliases=None) -> dg.ExecuteInProcessResult:
    """One run of the week for the report's assets (or those of `aliases`), with their checks,
    as materializing them from the UI launches it."""
    keys = [dg.AssetKey(["amc", a, REPORT]) for a in aliases or config.instances]
    job = collection_job(build_definitions(config, resources=resources), keys)
    return job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False)


def rows_by_instance(warehouse, week: str) -> dict[str, dict[str, int]]:
    """amc_instance -> execution_id -> stored rows of the week."""
    with warehouse.connect() as conn:
        found = conn.execute(
            sql.SQL(
                "SELECT amc_instance, execution_id::text, count(*) FROM {} "
                "WHERE week_start_date = %s GROUP BY 1, 2"
            ).format(sql.SQL(warehouse.results_table(REPORT))),
            (date.fromisoformat(week),),
        ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for alias, execution_id, count in found:
        out.setdefault(alias, {})[execution_id] = count
    return out


@pytest.fixture
def dagster_instance(tmp_path) -> dg.DagsterInstance:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return dg.DagsterInstance.local_temp(str(home), overrides={"telemetry": {"enabled": False}})


def test_two_profiles_a_wrong_secret_fails_only_its_instances(
    tmp_path, sandbox, warehouse, dagster_instance, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    config, ids = agency_config(tmp_path, sandbox)
    default_app, app_b = sandbox_app(), sandbox_app("agency_b")
    for name, value in {
        "AMC_CLIENT_ID": default_app.client_id,
        "AMC_CLIENT_SECRET": default_app.client_secret,
        "AMC_REFRESH_TOKEN": default_app.refresh_token,
        "AMC_AGENCY_B_CLIENT_ID": app_b.client_id,
        "AMC_AGENCY_B_CLIENT_SECRET": WRONG_SECRET,
        "AMC_AGENCY_B_REFRESH_TOKEN": app_b.refresh_token,
        "AMC_API_BASE_URL": sandbox.base_url,
        "AMC_TOKEN_URL": sandbox.base_url + TOKEN_PATH,
        "AMC_REPORTS_ENV": "production",
        "AMC_REPORTS_DATABASE_URL": warehouse.database_url,
    }.items():
        monkeypatch.setenv(name, value)
    amc = build_resources(config=config)["amc"]
    assert isinstance(amc, LiveAmcResource)  # live AMC's code path, pointed at the sandbox
    assert sorted(amc.profiles) == ["agency_b", "default"]
    fast = LiveAmcResource(
        profiles=amc.profiles, api_base_url=amc.api_base_url, token_url=amc.token_url, **FAST
    )
    resources = {
        "amc": fast,
        "warehouse": PostgresWarehouseResource(database_url=warehouse.database_url),
    }

    result = run_week(config, resources, dagster_instance, WEEK)

    assert not result.success
    failed = {e.step_key for e in result.get_step_failure_events()}
    assert failed == {f"amc__initech__{REPORT}"}
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {f"amc/acme/{REPORT}", f"amc/globex/{REPORT}"}
    # Nothing was submitted on initech's instance; the others ran under the default app.
    submitted = {e["instance_id"] for e in sandbox.executions() if e["instance_id"] in ids.values()}
    assert submitted == {ids["acme"], ids["globex"]}

    week_b = warehouse.get_week(REPORT, date.fromisoformat(WEEK), "initech")
    assert week_b.status == "failed"
    for expected in ("credential profile 'agency_b'", "AMC_AGENCY_B_CLIENT_SECRET", "401"):
        assert expected in week_b.error_message
    # The wrong secret is nowhere: not on the row, in the run's events or in the log.
    events = " ".join(str(e) for e in dagster_instance.all_logs(result.run_id))
    for text in (week_b.error_message, events, caplog.text):
        assert WRONG_SECRET not in text

    # The right secret: initech's week is collected; every row carries its own instance.
    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_SECRET", app_b.client_secret)
    again = run_week(config, resources, dagster_instance, WEEK, aliases=["initech"])
    assert again.success
    stored = rows_by_instance(warehouse, WEEK)
    assert set(stored) == {"acme", "globex", "initech"}
    for alias in stored:
        week_row = warehouse.get_week(REPORT, date.fromisoformat(WEEK), alias)
        assert week_row.status == "completed"
        assert stored[alias] == {str(week_row.execution_id): 12}
        execution = warehouse.get_execution(week_row.execution_id)
        assert execution.amc_instance_id == ids[alias]
        assert execution.parameters["brand"] == alias.capitalize()


def test_templated_parameters_are_resolved_per_week_and_recorded(
    tmp_path, sandbox, warehouse, dagster_instance
):
    config, ids = agency_config(tmp_path, sandbox)
    resources = {
        "amc": SandboxAmcResource(sandbox_url=sandbox.base_url, **FAST),
        "warehouse": PostgresWarehouseResource(database_url=warehouse.database_url),
    }
    for week in (WEEK, NEXT_WEEK):
        assert run_week(config, resources, dagster_instance, week, aliases=["acme"]).success

    report, acme = config.reports[REPORT], config.instances["acme"]
    sent = {e["time_window_start"][:10]: e for e in sandbox.executions(ids["acme"])}
    hashes = set()
    for week, since in ((WEEK, "2026-02-08"), (NEXT_WEEK, "2026-02-15")):
        row = warehouse.get_week(REPORT, date.fromisoformat(week), "acme")
        execution = warehouse.get_execution(row.execution_id)
        expected = {"since": since, "brand": "Acme"}
        assert execution.parameters == expected  # recorded on workflow_executions
        assert sent[week]["parameter_values"] == expected  # what AMC was sent
        start = date.fromisoformat(week)
        resolved = resolve_parameters(report, acme, start, start + timedelta(days=6))
        assert resolved == expected
        assert execution.sql_hash == report.fingerprint_for(expected)
        hashes.add(execution.sql_hash)
    assert len(hashes) == 2  # the week is part of the query's fingerprint


def test_clients_of_one_profile_share_one_token(sandbox):
    """Every client of a profile (one per instance and run, in threads) uses one access token;
    another profile has its own (the sandbox's app of that name)."""
    first, second = (f"p{uuid.uuid4().hex[:8]}" for _ in range(2))
    instances = [
        InstanceConfig(
            instance_id=f"amctoken{uuid.uuid4().hex[:8]}",
            advertiser_id="ENTITYT",
            marketplace_id="ATVPDKIKX0DER",
            profile=first if n < 4 else second,
        ).named(f"i{n}")
        for n in range(5)
    ]
    resource = SandboxAmcResource(sandbox_url=sandbox.base_url, **FAST)
    started = time.time()

    def list_executions(instance: InstanceConfig) -> int:
        with resource.get_client(instance) as client:
            return len(list(client.list_executions(instance.instance_id)))

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert list(pool.map(list_executions, instances)) == [0] * 5
    tokens = sandbox.requests(path_contains=TOKEN_PATH, since=started)
    assert [t["status"] for t in tokens] == [200, 200]
