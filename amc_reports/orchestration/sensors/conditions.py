"""Sensors that let Dagster evaluate automation conditions: one interval, one way to build."""

from __future__ import annotations

import dagster as dg

CONDITION_INTERVAL_SECONDS = 30  # how often a condition sensor evaluates its targets


def condition_sensor(
    name: str, target: dg.AssetSelection, *, running: bool, description: str
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates ``target``'s automation conditions every `CONDITION_INTERVAL_SECONDS` (on by
    default when ``running``)."""
    status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    return dg.AutomationConditionSensorDefinition(
        name,
        target=target,
        default_status=status,
        minimum_interval_seconds=CONDITION_INTERVAL_SECONDS,
        description=description,
    )
