"""Real Dagster execution against the sandbox over HTTP and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from amc_reports.config import ReportsConfig
from amc_reports.definitions import build_definitions
from amc_reports.orchestration.local_resources import SandboxAmcResource
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import PostgresWarehouseResource
from amc_reports.orchestration.sensors.weekly_checks import WEEKLY_CHECKS_SENSOR
from amc_reports.warehouse import Warehouse
from amc_reports_tests.support.reports import collection_job, new_instance_id, write_config


@dataclass
class ReportHarness:
    """One test's report(s) on an AMC instance id of its own, so sandbox counts are per test."""

    config: ReportsConfig
    resources: dict[str, Any]
    warehouse: Warehouse
    instance_id: str
    sandbox: Any
    dagster: dg.DagsterInstance
    # Where the weekly checks' sensor stands (see `run_weekly_checks`).
    checks_cursor: str | None = None

    @property
    def report(self):
        return next(iter(self.config.reports.values()))

    def definitions(self) -> dg.Definitions:
        return build_definitions(self.config, resources=self.resources)

    def materialize(
        self, week: str, report: str | None = None, tags: dict[str, str] | None = None
    ) -> dg.ExecuteInProcessResult:
        self.start_automation()
        name = report or self.report.name
        keys = [
            report_asset_key(self.config.reports[name], instance)
            for instance in self.config.reports[name].instances
        ]
        job = collection_job(self.definitions(), keys)
        return job.execute_in_process(
            partition_key=week, instance=self.dagster, raise_on_error=False, tags=tags
        )

    def reconfigure(self, reports: str) -> ReportHarness:
        """The same AMC instance, database and Dagster instance with other report settings."""
        config = write_config(self.config.path.parent, self.instance_id, reports)
        return ReportHarness(
            config,
            self.resources,
            self.warehouse,
            self.instance_id,
            self.sandbox,
            self.dagster,
            self.checks_cursor,
        )

    def _tick_checks_sensor(self, defs: dg.Definitions):
        """One tick as the daemon evaluates it: run requests resolved against their target
        (partition key and tags), as a tick in a deployment does."""
        sensor = defs.resolve_sensor_def(WEEKLY_CHECKS_SENSOR)
        context = dg.build_sensor_context(
            instance=self.dagster, cursor=self.checks_cursor, definitions=defs
        )
        result = sensor.evaluate_tick(context)
        self.checks_cursor = result.cursor
        return result

    def start_automation(self) -> None:
        """The first tick of the amc_weekly_checks sensor: the weeks of runs that end from now on
        get their checks."""
        if self.checks_cursor is None:
            self._tick_checks_sensor(self.definitions())

    def run_weekly_checks(self) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
        """What the amc_weekly_checks sensor and the daemon do: tick the sensor, execute each
        requested check run (one per asset and week, all of its weekly checks) for real, and tick
        again until nothing more is requested (the check runs themselves materialize nothing).
        Returns the evaluations by (week, check name)."""
        self.start_automation()
        defs = self.definitions()
        evaluations = {}
        for _ in range(3):
            requests = self._tick_checks_sensor(defs).run_requests or []
            if not requests:
                break
            for request in requests:
                run = defs.resolve_job_def(request.job_name).get_subset(
                    asset_selection=set(), asset_check_selection=set(request.asset_check_keys)
                )
                executed = run.execute_in_process(
                    partition_key=request.partition_key,
                    instance=self.dagster,
                    tags=request.tags,
                    raise_on_error=False,
                )
                for evaluation in executed.get_asset_check_evaluations():
                    evaluations[(evaluation.partition, evaluation.check_name)] = evaluation
        return evaluations

    def submissions(self) -> list[dict[str, Any]]:
        return [e for e in self.sandbox.executions() if e["instance_id"] == self.instance_id]

    def set_faults(self, **faults: Any) -> None:
        self.sandbox.patch_config({"instances": {self.instance_id: faults}})


@pytest.fixture
def harness_factory(tmp_path, sandbox, warehouse) -> Callable[..., ReportHarness]:
    def make(reports: str | None = None, **amc_settings: Any) -> ReportHarness:
        home = tmp_path / "dagster_home"
        home.mkdir(exist_ok=True)
        instance_id = new_instance_id()
        config = write_config(tmp_path, instance_id, reports)
        settings = {
            "sandbox_url": sandbox.base_url,
            "poll_min_seconds": 0.05,
            "poll_max_seconds": 0.5,
            "transient_retry_seconds": 0.1,
            "adoption_retry_seconds": 0.2,
            "retry_budget_seconds": 20,
        }
        settings.update(amc_settings)
        sandbox.patch_config({"instances": {instance_id: {"latency_seconds": 0.3, "rows": 40}}})
        resources = {
            "amc": SandboxAmcResource(**settings),
            "warehouse": PostgresWarehouseResource(database_url=warehouse.database_url),
        }
        return ReportHarness(
            config=config,
            resources=resources,
            warehouse=warehouse,
            instance_id=instance_id,
            sandbox=sandbox,
            dagster=dg.DagsterInstance.local_temp(
                str(home), overrides={"telemetry": {"enabled": False}}
            ),
        )

    return make


@pytest.fixture
def harness(harness_factory) -> ReportHarness:
    return harness_factory()
