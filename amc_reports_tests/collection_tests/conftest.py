"""The collection procedure without Dagster: a real sandbox over HTTP and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from amc_reports.amc import AmcClient
from amc_reports.collection import PollPolicy, RejectionPolicy, WeekCollector
from amc_reports.config import ReportConfig
from amc_reports.warehouse import Warehouse
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
    ) -> WeekCollector:
        extra: dict[str, Any] = {}
        if sleep:
            extra["sleep"] = sleep
        if clock:
            extra["clock"] = clock
        return WeekCollector(
            self.report,
            self.client,
            self.warehouse,
            poll=PollPolicy(min_seconds=0.05, max_seconds=0.3),
            rejection=RejectionPolicy(max_attempts=3, first_delay_seconds=0.05),
            **extra,
        )

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
