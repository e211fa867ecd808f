"""`amc-reports check-sql` and the SQL part of `validate-config`, as an analyst runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from amc_reports.config import DEFAULT_CONFIG_PATH, load_config
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.support.reports import shipped_configs

CLI = [sys.executable, "-m", "amc_reports.cli"]

GOOD = """\
-- Clicks per sponsored ads product
SELECT ad_product_type, SUM(clicks) AS clicks, COUNT(DISTINCT user_id) AS users
FROM sponsored_ads_traffic
GROUP BY ad_product_type
"""
TYPO = """\
-- a typo in a column name, on line 3
SELECT ad_product_type,
       SUM(clikcs) AS clicks
FROM sponsored_ads_traffic
GROUP BY ad_product_type
"""
BROKEN = "SELECT campaign FROM dsp_impressions WHERE (campaign = 'x'"


def _project(tmp_path: Path, reports: dict[str, str]) -> Path:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    lines = [
        "instances:",
        "  us: {instance_id: amccheck01, advertiser_id: ENTITYX, marketplace_id: ATVPDKIKX0DER,",
        "       region: NA}",
        "reports:",
    ]
    for name, sql in reports.items():
        (sql_dir / f"{name}.sql").write_text(sql, encoding="utf-8")
        lines += [
            f"  {name}:",
            "    instance: us",
            f"    sql_file: sql/{name}.sql",
            "    start_date: 2026-03-01",
            "    timezone: America/New_York",
        ]
    path = tmp_path / "reports.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_check_sql_prints_columns_and_rows_or_the_error_and_where(tmp_path):
    config = _project(tmp_path, {"good": GOOD, "typo": TYPO, "broken": BROKEN})
    done = _cli("check-sql", "--all", "--config", str(config), "--impressions-per-day", "20000")
    assert done.returncode == 1, done.stderr  # two reports fail
    out = done.stdout
    good = out.split("amc/us/good: ", 1)[1].split("\namc/", 1)[0]
    assert good.startswith("ok, 3 row(s) for the week of ")
    columns = "    ad_product_type  STRING\n    clicks           LONG\n    users            LONG"
    assert columns in good
    assert (
        "amc/us/typo: sql/typo.sql line 3, column 12: Column 'clikcs' cannot be resolved "
        "(did you mean 'clicks'?)\n"
        "             SUM(clikcs) AS clicks\n"
        "                 ^\n"
    ) in out
    assert (
        "amc/us/broken: sql/broken.sql line 1, column 56: syntax error: the query ends "
        "unexpectedly after \"'x'\" (expecting ')')\n"
    ) in out


def test_check_sql_on_one_good_report_and_unknown_names(tmp_path):
    config = _project(tmp_path, {"good": GOOD})
    ok = _cli("check-sql", "good", "--config", str(config), "--impressions-per-day", "20000")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "amc/us/good: ok, 3 row(s)" in ok.stdout
    missing = _cli("check-sql", "nope", "--config", str(config))
    assert missing.returncode == 2
    assert "no report nope" in missing.stderr and "(reports: good)" in missing.stderr


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_shipped_config_validates_and_each_of_its_reports_runs(path):
    """reports.yaml and every examples/*.yaml: `validate-config` passes and each (report,
    instance) runs on the sandbox's AMC tables (`check-sql --all`)."""
    valid = _cli("validate-config", "--config", str(path))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    checked = _cli("check-sql", "--all", "--config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for report, instance in load_config(path).targets():
        outcome = "ok, " if report.sql else "saved workflow "
        assert f"amc/{instance.alias}/{report.name}: {outcome}" in checked.stdout


def test_validate_config_reports_sql_that_does_not_parse(tmp_path):
    config = _project(tmp_path, {"good": GOOD, "broken": BROKEN, "typo": TYPO})
    done = _cli("validate-config", "--config", str(config))
    assert done.returncode == 1
    assert (
        f"{config}: 1 report(s) with SQL that does not parse:\n"
        f"  - {config}: report 'broken': sql/broken.sql line 1, column 56: syntax error: the "
        "query ends unexpectedly after \"'x'\" (expecting ')')\n"
    ) in done.stderr
    assert "typo" not in done.stderr  # a wrong column name parses: AMC (or check-sql) says more


def test_validate_config_counts_the_assets_the_ui_shows():
    from amc_reports.definitions import defs  # the shipped reports.yaml, as the UI loads it

    shown = defs.resolve_asset_graph().get_all_asset_keys()
    done = _cli("validate-config", "--config", str(DEFAULT_CONFIG_PATH))
    assert done.returncode == 0, done.stderr
    assert f"{len(shown)} asset(s)" in done.stdout.splitlines()[0]
    for key in shown:
        assert f"  {key.to_user_string()}: " in done.stdout, key


def test_check_sql_on_query_files_lists_every_problem_of_each(tmp_path):
    good = tmp_path / "good.sql"
    good.write_text(GOOD, encoding="utf-8")
    bad = tmp_path / "bad.sql"
    bad.write_text(
        "SELECT campain, SUM(clicks) AS clicks\nFROM sponsored_ads_traffic s -- SA\nLIMIT 5\n",
        encoding="utf-8",
    )
    done = _cli("check-sql", "--file", str(good), "--file", str(bad), "--week", "2026-03-01")
    assert done.returncode == 1, done.stderr
    assert f"{good}: ok, 3 row(s) for the week of 2026-03-01 (UTC; synthetic data" in done.stdout
    assert (
        f"{bad}: 2 problems\n"
        f"  - {bad} line 1, column 8: Column 'campain' cannot be resolved "
        "(did you mean 'campaign'?)\n"
        "      SELECT campain, SUM(clicks) AS clicks\n"
        "             ^\n"
        f"  - {bad} line 3, column 1: AMC does not support LIMIT"
    ) in done.stdout
    both = _cli("check-sql", "--all", "--file", str(good))
    assert both.returncode == 2 and "not both" in both.stderr


def test_check_sql_text_is_the_same_check_for_any_query():
    from datetime import date

    from amc_reports.commands.sql import check_sql_text

    checked = check_sql_text(GOOD, week_start=date(2026, 3, 1), impressions_per_day=20_000)
    assert checked.ok and checked.result is not None
    assert [c.name for c in checked.result.columns] == ["ad_product_type", "clicks", "users"]
    refused = check_sql_text(
        "SELECT ad_product_type FROM sponsored_ads_traffic GROUP BY 1 ORDER BY 1"
    )
    assert not refused.ok and refused.result is None
    assert [(e.line, e.column) for e in refused.errors] == [(1, 62)]
