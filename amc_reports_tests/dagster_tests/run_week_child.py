"""Materialize one week in a child process (the parent kills or interrupts it).

Usage: python -m amc_reports_tests.dagster_tests.run_week_child CONFIG DAGSTER_HOME SANDBOX_URL
       DATABASE_URL REPORT WEEK
"""

from __future__ import annotations

import sys

import dagster as dg

from amc_reports.config import load_config
from amc_reports.definitions import build_definitions
from amc_reports.orchestration.local_resources import SandboxAmcResource
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import PostgresWarehouseResource
from amc_reports_tests.support.reports import collection_job


def main(argv: list[str]) -> int:
    config_path, dagster_home, sandbox_url, database_url, report, week = argv
    resources = {
        "amc": SandboxAmcResource(
            sandbox_url=sandbox_url,
            poll_min_seconds=0.05,
            poll_max_seconds=0.2,
            retry_budget_seconds=20,
        ),
        "warehouse": PostgresWarehouseResource(database_url=database_url),
    }
    defs = build_definitions(load_config(config_path), resources=resources)
    instance = dg.DagsterInstance.local_temp(
        dagster_home, overrides={"telemetry": {"enabled": False}}
    )
    config = load_config(config_path)
    keys = [report_asset_key(config.reports[report], i) for i in config.reports[report].instances]
    result = collection_job(defs, keys).execute_in_process(
        partition_key=week, instance=instance, raise_on_error=False
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
