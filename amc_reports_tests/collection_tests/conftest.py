"""The collection procedure without Dagster: a real sandbox over HTTP and a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from amc_reports.amc import AmcClient, ExecutionRecord
from amc_reports.collection import (
    CollectionPolicy,
    PollPolicy,
    WeekCollector,
)
from amc_reports.config import ReportConfig
from amc_reports.warehouse import Submission, Warehouse, WeekKey
from amc_reports_tests.support.reports import new_instance_id, report_yaml, write_config


@dataclass
class CollectionSetup:
    """One report on an AMC instance id of its own, and what collecting it needs."""

    report: ReportConfig
    client: AmcClient
    warehouse: Warehouse
    sandbox: Any

    def collector(
        self,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        **settings: Any,
    ) -> WeekCollector:
        extra: dict[str, Any] = {
            "poll": PollPolicy(min_seconds=0.05, max_seconds=0.3),
            "policy": CollectionPolicy(first_delay_seconds=0.05),
            "adoption_interval_seconds": 0.1,
            **settings,
        }
        if sleep:
            extra["sleep"] = sleep
        if clock:
            extra["clock"] = clock
        return WeekCollector(self.report, self.client, self.warehouse, **extra)

    def key(self, week: date) -> WeekKey:
        return WeekKey(self.report.name, self.report.instance.alias, week)

    def record_submission(self, week: date, *, run_id: str = "dead-run") -> uuid.UUID:
        """What a run does before submitting: claim the week, record the execution (CREATED)."""
        window = self.collector().window(week)
        self.warehouse.life.claim(self.key(week), run_id=run_id)
        return self.warehouse.life.record_submission(
            self.key(week),
            Submission(
                amc_instance_id=self.report.instance.instance_id,
                time_window_start=window.amc_start,
                time_window_end=window.amc_end,
                time_zone=window.time_zone,
                sql_hash=self.collector().fingerprint(week),
                parameters={},
            ),
            run_id=run_id,
        )

    def create_at_amc(self, week: date) -> ExecutionRecord:
        """The execution AMC creates when the report's week is submitted."""
        window = self.collector().window(week)
        return self.client.create_execution(
            self.report.instance.instance_id,
            sql=self.report.sql,
            time_window_start=window.amc_start,
            time_window_end=window.amc_end,
            time_zone=window.time_zone,
        )

    def left_by_a_dead_run(self, week: date, *, untracked: bool = False) -> tuple[uuid.UUID, str]:
        """A run claimed the week, submitted to AMC and died while AMC worked: its execution row
        (attached, or UNTRACKED when AMC's answer never came) and AMC's execution id."""
        execution_id = self.record_submission(week)
        record = self.create_at_amc(week)
        if untracked:
            self.warehouse.life.mark_untracked(execution_id, "the connection broke after sending")
        else:
            self.warehouse.life.attach(
                execution_id, record.execution_id, submitted_at=datetime.now(UTC)
            )
        return execution_id, record.execution_id

    def submissions(self) -> list[dict[str, Any]]:
        instance_id = self.report.instance.instance_id
        return [e for e in self.sandbox.executions() if e["instance_id"] == instance_id]

    def set_faults(self, **faults: Any) -> None:
        self.sandbox.patch_config({"instances": {self.report.instance.instance_id: faults}})


@pytest.fixture
def setup_factory(tmp_path, sandbox, warehouse) -> Iterator[Callable[..., CollectionSetup]]:
    """`setup_factory(extra_settings)`: the test's report with more settings (YAML lines)."""
    clients: list[AmcClient] = []

    def make(extra: str = "", **report: str) -> CollectionSetup:
        instance_id = new_instance_id()
        config = write_config(tmp_path, instance_id, report_yaml(**report) + extra)
        sandbox.patch_config({"instances": {instance_id: {"latency_seconds": 0.3, "rows": 25}}})
        client = sandbox.client()
        clients.append(client)
        return CollectionSetup(next(iter(config.reports.values())), client, warehouse, sandbox)

    try:
        yield make
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def setup(tmp_path, sandbox, warehouse) -> Iterator[CollectionSetup]:
    instance_id = new_instance_id()
    config = write_config(tmp_path, instance_id)
    sandbox.patch_config({"instances": {instance_id: {"latency_seconds": 0.3, "rows": 25}}})
    client = sandbox.client()
    try:
        yield CollectionSetup(next(iter(config.reports.values())), client, warehouse, sandbox)
    finally:
        client.close()
