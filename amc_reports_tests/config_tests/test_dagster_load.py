"""What `amc-reports validate-config` accepts also loads in Dagster (issue 11, "Refuse bad input").

The file below gathers the edges the config accepts: start dates at both bounds, an unusual but
real time zone, the longest names, unquoted dates and templates in parameters, anchors and merge
keys, a `sql_file` from an allowed folder outside the project, owners at Dagster's limits.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from amc_reports.cli import main
from amc_reports.config import load_config
from amc_reports.definitions import build_definitions
from amc_reports.environment import build_resources
from amc_reports.paths import PROJECT_ROOT

LONG_REPORT = "r" + "_x" * 29 + "9"  # 60 characters, the longest name allowed
LONG_ALIAS = "i" * 60

EDGES = f"""
sql_folders: [../shared]
x-defaults: &defaults
  owners: [team:a, Jane.Doe+amc@example.co.uk]
  lag_days: 90
instances:
  {LONG_ALIAS}:
    instance_id: A.b-c_1
    advertiser_id: ENTITY-1
    marketplace_id: ATVPDKIKX0DER
    region: fe
    profile: p2
    tags: [t]
    parameters: {{brand_id: 1}}
reports:
  {LONG_REPORT}:
    <<: *defaults
    instances: [{LONG_ALIAS}]
    sql_file: ../shared/q.sql
    start_date: 2018-01-01
    week_starts_on: Monday
    timezone: Etc/GMT+12
    description: "Ünïcödé, quotes ' \\" and {{{{braces}}}}"
    parameters:
      since: 2026-03-01
      window: "{{{{week_start - 3660d}}}}..{{{{week_end + 3660d}}}}"
      brand: "{{{{instance.brand_id}}}}"
  late:
    <<: *defaults
    instance: {LONG_ALIAS}
    workflow_id: saved.workflow-1
    start_date: 2099-12-27
    timezone: Pacific/Kiritimati
    lag_days: 0
    timeout_seconds: 86400
    backfill_weeks_per_run: 10
    schedule: false
"""


@pytest.fixture
def edges(tmp_path) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "q.sql").write_text("SELECT 1 AS a -- the end;\n;\n")
    (tmp_path / "project").mkdir()
    path = tmp_path / "project" / "reports.yaml"
    path.write_text(EDGES)
    return path


def test_accepted_edges_build_definitions(edges, capsys):
    assert main(["validate-config", "--config", str(edges)]) == 0
    assert f"amc/{LONG_ALIAS}/{LONG_REPORT}" in capsys.readouterr().out
    defs = build_definitions(load_config(edges), resources=build_resources({}))
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"amc/{LONG_ALIAS}/{LONG_REPORT}", f"amc/{LONG_ALIAS}/late"}


def test_accepted_edges_pass_dagster_definitions_validate(edges, tmp_path):
    """Through the real command, as a deployment would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")}
    env.update({"AMC_REPORTS_CONFIG": str(edges), "DAGSTER_HOME": str(tmp_path)})
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "amc_reports.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_agency_example_builds_definitions():
    config = load_config(PROJECT_ROOT / "examples" / "agency.yaml")
    defs = build_definitions(config, resources=build_resources({}))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"amc/{t.instance.alias}/{t.report.name}" for t in config.targets()}
