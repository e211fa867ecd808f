"""The campaign KPI assets' sensor: Dagster evaluates their automation condition
(`kpis.KPI_AUTOMATION`: each week after the report's week was collected and its blocking checks
passed)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

KPI_SENSOR = "amc_campaign_kpis"


def build_campaign_kpis_sensor(
    assets: Sequence[dg.AssetsDefinition],
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the KPI assets' automation condition (on by default)."""
    return dg.AutomationConditionSensorDefinition(
        KPI_SENSOR,
        target=dg.AssetSelection.assets(*assets),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description=(
            "Computes each week's campaign KPIs after the report's week was collected and "
            "its blocking checks passed."
        ),
    )
