"""`amc-reports status` against a real warehouse: per report and instance, weeks completed
(final, provisional), failed by kind, running, and the final weeks missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from amc_reports.cli import main
from amc_reports.commands.status import final_weeks
from amc_reports.config import load_config
from amc_reports.warehouse import FailureKind, Warehouse, WeekKey
from amc_reports_tests.support.warehouse import INSTANCE, WEEK, collected_week, new_execution

REPORT = "weekly_campaign"


@pytest.fixture
def config_path(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path):
    path = tmp_path / "reports.yaml"
    path.write_text(
        "instances:\n  us:\n    instance_id: amcinstance1\n    advertiser_id: E\n"
        "    marketplace_id: M\nreports:\n"
        + "".join(
            f"  {name}:\n    instance: us\n    sql: SELECT 1 AS a\n    start_date: 2024-01-07\n"
            for name in (REPORT, "never_collected")
        )
    )
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    monkeypatch.setenv("AMC_REPORTS_CONFIG", str(path))
    return path


def test_status_counts_each_kind_of_week_and_the_final_weeks_missing(
    warehouse: Warehouse, config_path, capsys
):
    collected_week(warehouse, REPORT, WEEK)
    collected_week(warehouse, REPORT, WEEK + timedelta(days=7))
    provisional = WEEK + timedelta(days=14)
    collected_week(warehouse, REPORT, provisional)
    with warehouse.connect() as conn:
        conn.execute(
            "UPDATE report_data_weeks SET provisional = true WHERE report = %s "
            "AND week_start_date = %s",
            (REPORT, provisional),
        )
    failed = WEEK + timedelta(days=21)
    warehouse.life.claim(WeekKey(REPORT, INSTANCE, failed), run_id="run-f")
    execution_id = new_execution(warehouse, REPORT, failed, run_id="run-f")
    warehouse.life.fail(
        WeekKey(REPORT, INSTANCE, failed),
        execution_id=execution_id,
        amc_execution_id=None,
        message="Column 'bogus' does not exist",
        failure_kind=FailureKind.QUERY_ERROR,
        run_id="run-f",
    )
    running = WEEK + timedelta(days=28)
    warehouse.life.claim(WeekKey(REPORT, INSTANCE, running), run_id="run-r")
    new_execution(warehouse, REPORT, running, run_id="run-r")
    weeks = final_weeks(load_config(config_path).reports[REPORT], datetime.now(UTC))
    assert weeks[0] == WEEK and len(weeks) > 100

    assert main(["status"]) == 1  # something failed or is missing
    out = capsys.readouterr().out.splitlines()
    missing = len(weeks) - 2  # the provisional week's final numbers are missing too
    assert out[0] == (
        f"amc/us/{REPORT}: 3 completed (2 final, 1 provisional), 1 failed (query_error 1), "
        f"1 running; final weeks missing: {missing} of {len(weeks)} "
        f"({provisional}, {failed}, {running}, {WEEK + timedelta(days=35)}, "
        f"{WEEK + timedelta(days=42)}, ...)"
    )
    assert out[1].startswith(
        "amc/us/never_collected: 0 completed (0 final, 0 provisional), 0 failed, 0 running; "
        f"final weeks missing: {len(weeks)} of {len(weeks)}"
    )

    assert main(["status", "--report", REPORT, "--json"]) == 1
    [status] = json.loads(capsys.readouterr().out)
    assert status["failed_by_kind"] == {"query_error": 1} and status["failed"] == 1
    assert status["missing_final_weeks"][0] == provisional.isoformat()


def test_status_of_an_unknown_report_is_refused(config_path, capsys):
    assert main(["status", "--report", "nope"]) == 2
    assert "report 'nope' is not in" in capsys.readouterr().err
