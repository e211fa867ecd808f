"""The decorator of a sensor whose runs collect weeks (the reconciler, the provisional weeks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from amc_reports.orchestration.partitions import collection_selection


def collection_sensor(
    name: str, keys: list[dg.AssetKey], every_seconds: int, description: str
) -> Callable[[Callable[..., Any]], dg.SensorDefinition]:
    """A sensor (on by default) whose runs collect weeks of `keys`. Their asset selection, not
    `target=`: a target builds one job of every report, which reports of different weeks
    (partitions) cannot share; an asset selection runs each request in the assets' own job."""
    return dg.sensor(
        name=name,
        minimum_interval_seconds=every_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=collection_selection(keys),
        description=description,
    )
