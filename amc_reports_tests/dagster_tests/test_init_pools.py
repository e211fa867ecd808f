"""`amc-reports init-pools`: every AMC instance's pool exists, sized from AMC's cap and the weeks
queued ahead at AMC (the sizing itself: unit_tests/test_pools.py)."""

import shutil

import dagster as dg

from amc_reports.cli import main
from amc_reports.paths import PROJECT_ROOT


def test_pools_are_created_with_the_default_or_batched_limit(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dev" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    config = tmp_path / "reports.yaml"
    report = "    sql: SELECT 1 AS a\n    start_date: 2026-03-01\n"
    config.write_text(
        "instances:\n"
        "  us: {instance_id: amc1, advertiser_id: E1, marketplace_id: M}\n"
        "  eu: {instance_id: amc2, advertiser_id: E2, marketplace_id: M}\n"
        "reports:\n"
        f"  one:\n    instance: us\n{report}"
        f"  two:\n    instance: eu\n{report}    backfill_weeks_per_run: 5\n"
    )
    assert main(["init-pools", "--config", str(config)]) == 0
    storage = dg.DagsterInstance.get().event_log_storage
    # AMC's 10 running executions plus 10 weeks queued ahead at AMC.
    assert storage.get_concurrency_info("amc_us").slot_count == 20
    # 5 weeks per run: 4 runs at once keep AMC at 20 weeks of the instance.
    assert storage.get_concurrency_info("amc_eu").slot_count == 4
    assert "pool amc_eu: 4 run(s) at once, 5 week(s) per run" in capsys.readouterr().out
    # Without queueing ahead: AMC's 10, as before.
    assert main(["init-pools", "--config", str(config), "--queue-ahead", "0"]) == 0
    assert storage.get_concurrency_info("amc_us").slot_count == 10
    assert storage.get_concurrency_info("amc_eu").slot_count == 2
    # A limit set by init-pools is not reset to dagster.yaml's default by the daemon.
    assert not storage.get_concurrency_info("amc_us").using_default_limit
    assert main(["init-pools", "--config", str(config), "--queue-ahead", "-2"]) == 1
    assert "queue_ahead must be 0 or more weeks, got -2" in capsys.readouterr().err
