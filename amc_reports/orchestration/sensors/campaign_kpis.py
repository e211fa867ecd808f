"""The campaign KPI assets' sensor: Dagster evaluates their automation condition
(`kpis.KPI_AUTOMATION`: each week after the report's week was collected and its blocking checks
passed)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from amc_reports.orchestration.sensors.conditions import condition_sensor

KPI_SENSOR = "amc_campaign_kpis"


def build_campaign_kpis_sensor(
    assets: Sequence[dg.AssetsDefinition],
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the KPI assets' automation condition (on by default)."""
    description = (
        "Computes each week's campaign KPIs after the report's week was collected and its "
        "blocking checks passed."
    )
    return condition_sensor(
        KPI_SENSOR, dg.AssetSelection.assets(*assets), running=True, description=description
    )
