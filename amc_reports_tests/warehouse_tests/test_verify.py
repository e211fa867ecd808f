"""`amc-reports verify`: text and JSON reports; exit 0 only when every completed week is traced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from amc_reports.cli import main
from amc_reports.warehouse import Warehouse, WeekKey
from amc_reports.warehouse.migrate import available_migrations
from amc_reports.warehouse.verify import verify
from amc_reports_tests.support.warehouse import (
    INSTANCE,
    WEEK,
    collected_week,
    insert_stray_rows,
    new_execution,
)

REPORT = "weekly_campaign"


@pytest.fixture
def env_url(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    """The test's database and a reports config naming its reports, for the commands."""
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    monkeypatch.setenv("AMC_REPORTS_CONFIG", str(write_reports(tmp_path)))
    return warehouse.database_url


def write_reports(folder) -> object:
    path = folder / "reports.yaml"
    path.write_text(
        "instances:\n  us:\n    instance_id: amcinstance1\n    advertiser_id: E\n"
        "    marketplace_id: M\nreports:\n"
        + "".join(
            f"  {name}:\n    instance: us\n    sql: SELECT 1 AS a\n    start_date: 2024-01-07\n"
            for name in (REPORT, "other_report", "never_collected")
        )
    )
    return path


def _clean_data(warehouse: Warehouse) -> None:
    collected_week(warehouse, REPORT, WEEK, rows=5)
    collected_week(warehouse, REPORT, WEEK + timedelta(days=7), rows=3)
    collected_week(warehouse, "other_report", WEEK, rows=2)
    key = WeekKey(REPORT, INSTANCE, WEEK + timedelta(days=14))
    warehouse.life.claim(key, run_id="run-x")
    warehouse.life.release(key, "x")


def test_verify_on_clean_data_exits_0(warehouse: Warehouse, env_url: str, capsys):
    _clean_data(warehouse)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "== weekly_campaign" in out and "== other_report" in out
    assert "completed=2" in out and "failed=1" in out
    assert "completed weeks with execution_id: 2/2 (100.0%)" in out
    assert "sample rows of week" in out
    assert "All completed weeks are fully traced." in out

    assert main(["verify", "--report", REPORT, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    [report] = data["reports"]
    assert report["report"] == REPORT
    assert report["weeks_by_status"]["completed"] == 2
    assert report["execution_id_pct"] == 100.0 and report["amc_execution_id_pct"] == 100.0
    assert report["foreign_rows"] == 0 and report["result_rows"] == 8
    assert len(report["sample_rows"]) == 3
    assert {"execution_id", "week_start_date", "campaign_id"} <= set(report["sample_rows"][0])


def test_verify_on_an_empty_warehouse(env_url: str, capsys):
    assert main(["verify"]) == 0
    assert "nothing to verify" in capsys.readouterr().out
    assert main(["verify", "--report", "nope"]) == 2
    assert "report 'nope' is not in" in capsys.readouterr().err
    assert main(["verify", "--report", "never_collected"]) == 0
    assert "no collected weeks yet" in capsys.readouterr().out


def test_verify_finds_broken_lineage_and_exits_1(warehouse: Warehouse, env_url: str, capsys):
    _clean_data(warehouse)
    traced = warehouse.get_week(REPORT, WEEK)
    with warehouse.connect() as conn:
        # Ids disagree between the week row and workflow_executions.
        conn.execute(
            "UPDATE report_data_weeks SET amc_execution_id = 'amc-wrong'"
            " WHERE report = %s AND week_start_date = %s",
            (REPORT, WEEK + timedelta(days=7)),
        )
        # A completed week without ids.
        conn.execute(
            "INSERT INTO report_data_weeks (report, amc_instance, week_start_date,"
            " week_end_date, status) VALUES (%s, %s, %s, %s, 'completed')",
            ("other_report", INSTANCE, WEEK + timedelta(days=7), WEEK + timedelta(days=13)),
        )
    # Rows of another execution in a completed week, and rows of an unknown week.
    insert_stray_rows(warehouse, REPORT, WEEK, uuid.uuid4(), {"campaign_id": 99})
    insert_stray_rows(
        warehouse, REPORT, WEEK - timedelta(days=7), traced.execution_id, {"campaign_id": 98}
    )
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "Lineage problems found." in out
    assert "amc-wrong" in out
    assert "completed weeks without execution_id" in out

    assert main(["verify", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    reports = {r["report"]: r for r in data["reports"]}
    weekly = reports[REPORT]
    assert weekly["ok"] is False
    assert weekly["id_mismatches"] == 1
    assert weekly["foreign_rows"] == 1
    assert weekly["orphan_rows"] == 1
    assert weekly["record_count_mismatches"] == 0
    other = reports["other_report"]
    assert other["completed_weeks"] == 2 and other["with_execution_id"] == 1
    assert other["execution_id_pct"] == 50.0


def test_verify_reports_rows_left_by_a_failed_recollection_as_a_note(warehouse: Warehouse):
    collected_week(warehouse, REPORT, WEEK, rows=4)
    retry = new_execution(warehouse, amc_execution_id="amc-retry")
    warehouse.life.fail(
        WeekKey(REPORT, INSTANCE, WEEK), execution_id=retry, amc_execution_id=None, message="x"
    )
    outcome = verify(warehouse)
    assert outcome.ok
    assert any("not completed" in note for note in outcome.reports[0].notes)


def test_verify_runs_as_a_command(warehouse: Warehouse):
    _clean_data(warehouse)
    env = {**os.environ, "AMC_REPORTS_DATABASE_URL": warehouse.database_url}
    clean = subprocess.run(
        [sys.executable, "-m", "amc_reports.cli", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["ok"] is True
    with warehouse.connect() as conn:
        conn.execute(
            "UPDATE report_data_weeks SET amc_execution_id = NULL WHERE report = %s", (REPORT,)
        )
    broken = subprocess.run(
        [sys.executable, "-m", "amc_reports.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert broken.returncode == 1, broken.stderr
    assert "without amc_execution_id" in broken.stdout


def test_migrate_command(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", fresh_database_url)
    assert main(["migrate"]) == 0
    assert f"applied {len(available_migrations())} migration" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_commands_report_an_unreachable_database(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", "postgresql://amc:Sup3rS3cret@127.0.0.1:1/w")
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert "AMC_REPORTS_DATABASE_URL" in err and "Sup3rS3cret" not in err


def test_verify_names_what_the_current_config_no_longer_has(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
):
    """Switching configs on one warehouse: assets, tables and columns of the other config."""
    config = tmp_path / "reports.yaml"
    config.write_text(
        "instances:\n  us:\n    instance_id: amcinstance1\n    advertiser_id: E\n"
        "    marketplace_id: M\nreports:\n"
        f"  {REPORT}:\n    instance: us\n    start_date: 2024-01-07\n"
        "    sql: SELECT campaign_id, SUM(impressions) AS impressions FROM t GROUP BY 1\n"
        "  saved:\n    instance: us\n    workflow_id: wf1\n    start_date: 2024-01-07\n"
    )
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    monkeypatch.setenv("AMC_REPORTS_CONFIG", str(config))
    collected_week(warehouse, REPORT, WEEK)  # campaign_id, impressions, spend
    collected_week(warehouse, REPORT, WEEK, instance="eu")
    collected_week(warehouse, "dropped_report", WEEK)
    collected_week(warehouse, "saved", WEEK)  # a saved workflow: its columns are not known

    assert main(["verify"]) == 0  # lineage is fine: these are notes
    out = capsys.readouterr().out
    notes = out.split("== not in the current config (kept; nothing is removed)\n", 1)[1]
    assert notes.splitlines()[:4] == [
        "  note: asset amc/us/dropped_report: 1 week(s) recorded, but the report "
        "'dropped_report' is not in the config",
        f"  note: asset amc/eu/{REPORT}: 1 week(s) recorded, but the instance 'eu' of report "
        f"'{REPORT}' is not in the config",
        "  note: table amc_results.dropped_report: no report of the config writes it",
        f"  note: table amc_results.{REPORT}: column(s) spend not selected by the SQL of "
        f"report '{REPORT}' (from an earlier query or another config; empty in the weeks "
        "collected since)",
    ]
    assert "saved" not in notes
    assert main(["verify", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["not_in_config"]) == 4
