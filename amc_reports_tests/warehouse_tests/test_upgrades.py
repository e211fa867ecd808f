"""Upgrades through the CLI: a warehouse as each earlier release left it (its migrations and the
data it stored) is upgraded by `amc-reports migrate` with the reports config, then a week is
re-collected from the sandbox: one week, one instance alias, its history intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from amc_reports.collection import PollPolicy, WeekCollector
from amc_reports.config import load_config
from amc_reports.warehouse import Warehouse
from amc_reports.warehouse.migrate import apply_migrations, available_migrations
from amc_reports_tests.support.reports import INSTANCE_ALIAS, new_instance_id, write_config

CLI = [sys.executable, "-m", "amc_reports.cli"]
REPORT = "weekly_perf"
WEEKS = [date(2026, 3, 8), date(2026, 3, 15)]
OLD_ROWS = 7
# Every release before the newest: the migrations it shipped.
EARLIER_RELEASES = [m.version for m in available_migrations()[:-1]]

# The first release's results table of the report, as `warehouse/results.py` created it then.
RELEASE_1_RESULTS_TABLE = """
CREATE TABLE amc_results.weekly_perf (
    execution_id uuid NOT NULL,
    week_start_date date NOT NULL,
    campaign_id text,
    campaign_name text,
    impressions bigint,
    clicks bigint,
    spend double precision
);
"""


def _release_1_data(url: str, instance_id: str) -> dict[date, uuid.UUID]:
    """What the first release stored: two completed weeks of the report on `instance_id`."""
    executions: dict[date, uuid.UUID] = {}
    with psycopg.connect(url) as conn:
        conn.execute(RELEASE_1_RESULTS_TABLE)
        for index, week in enumerate(WEEKS):
            execution_id = conn.execute(
                "INSERT INTO workflow_executions (report, week_start_date, week_end_date,"
                " amc_instance_id, amc_execution_id, status, time_window_start, time_window_end,"
                " time_zone, sql_hash, row_count)"
                " VALUES (%s, %s, %s, %s, %s, 'SUCCEEDED', %s, %s, 'America/New_York', 'old', %s)"
                " RETURNING id",
                (
                    REPORT,
                    week,
                    week + timedelta(days=6),
                    instance_id,
                    f"amc-old-{index}",
                    week,
                    week + timedelta(days=7),
                    OLD_ROWS,
                ),
            ).fetchone()[0]
            executions[week] = execution_id
            conn.execute(
                "INSERT INTO report_data_weeks (report, week_start_date, week_end_date, status,"
                " execution_id, amc_execution_id, record_count)"
                " VALUES (%s, %s, %s, 'completed', %s, %s, %s)",
                (
                    REPORT,
                    week,
                    week + timedelta(days=6),
                    execution_id,
                    f"amc-old-{index}",
                    OLD_ROWS,
                ),
            )
            conn.execute(
                "INSERT INTO amc_results.weekly_perf (execution_id, week_start_date, campaign_id,"
                " campaign_name, impressions, clicks, spend)"
                " SELECT %s, %s, 'c' || n, 'Campaign ' || n, n * 100, n, n * 1.5"
                " FROM generate_series(1, %s) AS n",
                (execution_id, week, OLD_ROWS),
            )
    return executions


def _earlier_release(url: str, release: str, config_path: Path) -> dict[date, uuid.UUID]:
    """A database as `release` left it: the first release's data, upgraded by each release's
    migrations up to `release` as that release's first use applied them (with the config)."""
    config = load_config(config_path)
    aliases = {i.instance_id: alias for alias, i in config.instances.items()}
    with psycopg.connect(url) as conn:
        apply_migrations(conn, results_schema="amc_results", instance_aliases=None, through="0001")
    executions = _release_1_data(url, config.instances[INSTANCE_ALIAS].instance_id)
    with psycopg.connect(url) as conn:
        apply_migrations(
            conn, results_schema="amc_results", instance_aliases=aliases, through=release
        )
    return executions


def _cli(args: list[str], url: str, config_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AMC_REPORTS_DATABASE_URL": url, "AMC_REPORTS_CONFIG": str(config_path)}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def _recorded(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


@pytest.mark.parametrize("release", EARLIER_RELEASES)
def test_an_earlier_release_is_upgraded_by_the_cli_and_recollected_as_one_week(
    release: str, fresh_database_url: str, tmp_path: Path, sandbox
):
    instance_id = new_instance_id()
    config = write_config(tmp_path, instance_id)
    sandbox.patch_config({"instances": {instance_id: {"latency_seconds": 0.3, "rows": 25}}})
    executions = _earlier_release(fresh_database_url, release, config.path)

    upgraded = _cli(["migrate"], fresh_database_url, config.path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied" in upgraded.stdout
    assert _recorded(fresh_database_url) == [m.version for m in available_migrations()]

    warehouse = Warehouse(fresh_database_url)
    assert [(w.week_start_date, w.amc_instance) for w in warehouse.list_weeks(REPORT)] == [
        (WEEKS[0], INSTANCE_ALIAS),
        (WEEKS[1], INSTANCE_ALIAS),
    ]

    client = sandbox.client()
    try:
        report = config.reports[REPORT]
        collector = WeekCollector(
            report, client, warehouse, poll=PollPolicy(min_seconds=0.05, max_seconds=0.3)
        )
        outcome = collector.collect(WEEKS[0], dagster_run_id="after-upgrade")
    finally:
        client.close()

    # One week, on one instance alias: the re-collection replaced the old week.
    weeks = warehouse.list_weeks(REPORT)
    assert [(w.week_start_date, w.amc_instance, w.status) for w in weeks] == [
        (WEEKS[0], INSTANCE_ALIAS, "completed"),
        (WEEKS[1], INSTANCE_ALIAS, "completed"),
    ]
    assert weeks[0].execution_id == outcome.execution_id
    assert warehouse.count_week_rows(REPORT, WEEKS[0]) == {outcome.execution_id: 25}
    assert warehouse.count_week_rows(REPORT, WEEKS[1]) == {executions[WEEKS[1]]: OLD_ROWS}

    # Its history: the release's rows kept as the replaced version, shown by `history`.
    versions = warehouse.list_versions(REPORT, WEEKS[0])
    assert sorted((v.state, v.execution_id, v.row_count) for v in versions) == [
        ("current", outcome.execution_id, 25),
        ("history", executions[WEEKS[0]], OLD_ROWS),
    ]
    shown = _cli(
        ["history", REPORT, WEEKS[0].isoformat(), "--json"], fresh_database_url, config.path
    )
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert {str(executions[WEEKS[0]]), str(outcome.execution_id)} <= {
        v["execution_id"] for v in listed
    }


def test_migrate_without_the_config_refuses_to_guess_instances(
    fresh_database_url: str, tmp_path: Path
):
    instance_id = new_instance_id()
    config = write_config(tmp_path, instance_id)
    _earlier_release(fresh_database_url, "0001", config.path)

    missing = tmp_path / "absent" / "reports.yaml"
    refused = _cli(["migrate"], fresh_database_url, missing)
    assert refused.returncode == 2
    assert "0002_weeks_by_instance_and_versions" in refused.stderr
    assert "reports config" in refused.stderr and "Nothing was changed" in refused.stderr
    assert _recorded(fresh_database_url) == ["0001"]

    # With the config, the same command upgrades the rows to the config's alias.
    upgraded = _cli(["migrate"], fresh_database_url, config.path)
    assert upgraded.returncode == 0, upgraded.stderr
    weeks = Warehouse(fresh_database_url).list_weeks(REPORT)
    assert {w.amc_instance for w in weeks} == {INSTANCE_ALIAS}


def test_first_use_applies_migrations_with_the_same_inputs_as_the_cli(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The Dagster resource's first use (open_warehouse) refuses without the config too, and
    upgrades with it exactly as `amc-reports migrate` does."""
    from amc_reports.environment import build_warehouse_resource, resolved
    from amc_reports.warehouse.migrate import MigrationNeedsConfigError

    instance_id = new_instance_id()
    config = write_config(tmp_path, instance_id)
    _earlier_release(fresh_database_url, "0001", config.path)
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", fresh_database_url)
    without = resolved(build_warehouse_resource())
    with pytest.raises(MigrationNeedsConfigError):
        without.get_warehouse()
    assert _recorded(fresh_database_url) == ["0001"]
    store = resolved(build_warehouse_resource(config=config)).get_warehouse()
    assert {w.amc_instance for w in store.list_weeks(REPORT)} == {INSTANCE_ALIAS}
