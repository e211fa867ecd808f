"""The KPI table's write is fenced on the upstream week (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from amc_reports.warehouse import WeekKey
from amc_reports.warehouse.kpis import KPI_TABLE_NAME, KpiSource, UpstreamChanged


def test_a_kpi_week_is_not_written_for_an_execution_the_week_does_not_name(warehouse):
    key = WeekKey("weekly_campaign_performance", "us", date(2026, 3, 1))
    source = KpiSource(key, uuid.uuid4(), "amc-1", provisional=False)
    with pytest.raises(UpstreamChanged, match="week 2026-03-01.*no row"):
        warehouse.kpis.replace_week(
            source, [{"campaign_id": "1", "clicks": 3}], computed_at=datetime.now(UTC)
        )
    with warehouse.connect() as conn:
        assert conn.execute(f"SELECT count(*) FROM {KPI_TABLE_NAME}").fetchone() == (0,)
    assert warehouse.kpis.week_summary(key).rows == 0
