"""Weekly campaign KPIs from one collected week of a report (no Dagster).

CTR (clicks / impressions), CPC (spend / clicks), ROAS (sales / spend) and new-to-brand share
(new-to-brand purchases / purchases) per campaign, computed with pandas from exactly the rows of
the execution that completed the upstream week, and stored with that execution's ids
(`warehouse.kpis`). A ratio whose denominator is zero or unknown is NULL, never infinite.

A week whose upstream ERROR checks (lineage, row counts) fail is refused (`UpstreamBlocked`): the
blocking checks gate the asset's automation, and this gate stops a manual materialization too.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from amc_reports.amc_sql import AmcSqlError, parse_query
from amc_reports.config import ReportConfig
from amc_reports.quality import CheckOutcome
from amc_reports.warehouse import Warehouse, WeekKey, WeekRow
from amc_reports.warehouse.kpis import KPI_VALUE_COLUMNS, KpiSource

# What the upstream report's rows must carry (weekly_campaign_performance does).
COUNT_COLUMNS = ("impressions", "clicks", "purchases", "new_to_brand_purchases")
MONEY_COLUMNS = ("spend", "sales")
REQUIRED_COLUMNS = ("campaign_id", "campaign_name", *COUNT_COLUMNS, *MONEY_COLUMNS)

# KPI name -> (numerator, denominator)
RATIOS = {
    "click_through_rate": ("clicks", "impressions"),
    "cost_per_click": ("spend", "clicks"),
    "return_on_ad_spend": ("sales", "spend"),
    "new_to_brand_share": ("new_to_brand_purchases", "purchases"),
}


def feeds_campaign_kpis(report: ReportConfig) -> bool:
    """Whether the report's SQL selects every column the KPIs need (by the names of its outer
    SELECT; a saved workflow or a query that does not parse: no)."""
    if not report.sql:
        return False
    try:
        selected = {name.lower() for name in parse_query(report.sql).named_selects}
    except AmcSqlError:
        return False
    return set(REQUIRED_COLUMNS) <= selected


class UpstreamBlocked(RuntimeError):
    """The upstream week cannot feed the KPIs: not collected, or an ERROR check fails."""

    def __init__(self, key: WeekKey, failing: Mapping[str, CheckOutcome]) -> None:
        self.key = key
        self.failing = dict(failing)
        reasons = "; ".join(f"{name}: {o.description}" for name, o in failing.items())
        super().__init__(
            f"KPIs of {key.describe()} refused: the upstream week fails its blocking check(s) "
            f"{', '.join(failing)} ({reasons}). Repair the upstream week (materialize it again), "
            "then materialize the KPI week."
        )


def _campaign_key(value: Any) -> str | None:
    """A campaign id as text, every digit kept (None stays None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN (stored NULL) where the denominator is 0 or unknown."""
    usable = denominator.notna() & (denominator != 0)
    return (numerator / denominator.where(usable)).replace([np.inf, -np.inf], np.nan)


def compute_campaign_kpis(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign (`KPI_VALUE_COLUMNS`): the week's totals and their ratios.

    Rows of one campaign are summed (a NULL metric counts as unknown, not zero: a campaign whose
    metric is NULL in every row keeps it NULL, and so do the ratios built on it). A NULL campaign
    id is one campaign of its own.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(
            f"the upstream rows lack the column(s) {', '.join(missing)} the campaign KPIs need "
            f"(they have: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    data = pd.DataFrame({"campaign_id": frame["campaign_id"].map(_campaign_key)})
    data["campaign_name"] = frame["campaign_name"].astype(object)
    for column in (*COUNT_COLUMNS, *MONEY_COLUMNS):
        data[column] = pd.to_numeric(frame[column].astype(object), errors="raise").astype(float)
    grouped = data.groupby("campaign_id", dropna=False, sort=True)
    totals = grouped[[*COUNT_COLUMNS, *MONEY_COLUMNS]].sum(min_count=1)
    totals["campaign_name"] = grouped["campaign_name"].first()
    totals = totals.reset_index()
    for name, (numerator, denominator) in RATIOS.items():
        totals[name] = _ratio(totals[numerator], totals[denominator])
    return totals[list(KPI_VALUE_COLUMNS)]


def kpi_records(kpis: pd.DataFrame) -> list[dict[str, Any]]:
    """The KPI rows as plain Python values for the warehouse: NaN -> None, counts as int."""
    records = []
    for row in kpis.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for column, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif column in COUNT_COLUMNS and value is not None:
                value = int(value)
            elif isinstance(value, np.generic):
                value = value.item()
            clean[column] = value
        records.append(clean)
    return records


@dataclass(frozen=True)
class KpiWeek:
    """A computed and stored KPI week."""

    source: KpiSource
    kpis: pd.DataFrame
    upstream_rows: int
    computed_at: datetime


def failing_checks(gate: Mapping[str, CheckOutcome]) -> dict[str, CheckOutcome]:
    return {name: outcome for name, outcome in gate.items() if not outcome.passed}


def compute_week(
    warehouse: Warehouse,
    key: WeekKey,
    gate: Mapping[str, CheckOutcome],
    *,
    run_id: str | None = None,
    now: datetime | None = None,
) -> KpiWeek:
    """Compute and store the KPI week of `key` from its upstream week's current execution.

    `gate`: the upstream week's blocking checks evaluated now (check name -> outcome); any
    failing one refuses the week (`UpstreamBlocked`, nothing written)."""
    failing = failing_checks(gate)
    week = warehouse.get_week_by_key(key)
    if not failing and (week is None or not week.is_completed or week.execution_id is None):
        status = week.status if week else "no row"
        failing = {"collected": CheckOutcome(False, f"the week is not collected ({status})")}
    if failing:
        raise UpstreamBlocked(key, failing)
    assert week is not None and week.execution_id is not None
    source = KpiSource(key, week.execution_id, week.amc_execution_id or "", week.provisional)
    frame = warehouse.read_week_frame(
        key.report, key.instance, key.week_start, week.execution_id, REQUIRED_COLUMNS
    )
    kpis = compute_campaign_kpis(frame)
    computed_at = now or datetime.now(UTC)
    warehouse.kpis.replace_week(source, kpi_records(kpis), computed_at=computed_at, run_id=run_id)
    return KpiWeek(source, kpis, len(frame), computed_at)


def upstream_campaigns(warehouse: Warehouse, key: WeekKey, execution_id: uuid.UUID) -> int:
    """Distinct campaigns (a NULL id is one) in the upstream week's rows of `execution_id`."""
    frame = warehouse.read_week_frame(
        key.report, key.instance, key.week_start, execution_id, ["campaign_id"]
    )
    return int(frame["campaign_id"].map(_campaign_key).nunique(dropna=False))


@dataclass(frozen=True)
class _StoredKpiWeek:
    """The one upstream execution a stored KPI week was computed from, its KPI rows, and the
    upstream week as it is now."""

    execution_id: uuid.UUID
    amc_execution_id: str
    kpi_rows: int
    upstream: WeekRow | None


def _stored_kpi_week(warehouse: Warehouse, key: WeekKey) -> _StoredKpiWeek | CheckOutcome:
    """The stored KPI week and the upstream week now, or the outcome saying why it cannot be
    judged (no KPI rows, or rows of several upstream executions)."""
    summary = warehouse.kpis.week_summary(key)
    if not summary.rows:
        return CheckOutcome(
            False,
            f"No KPIs are stored for {key.describe()}: materialize the KPI week.",
            {"kpi_rows": 0},
        )
    if len(summary.rows_by_execution) > 1:
        named = ", ".join(str(e) for e in summary.rows_by_execution)
        return CheckOutcome(
            False,
            f"The KPI week mixes rows of several upstream executions ({named}).",
            {"kpi_rows": summary.rows},
        )
    [execution_id] = summary.rows_by_execution
    return _StoredKpiWeek(
        execution_id,
        summary.amc_execution_ids[execution_id],
        summary.rows,
        warehouse.get_week_by_key(key),
    )


def kpi_lineage_current(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    """The KPI week was computed from the execution that completes the upstream week now."""
    stored = _stored_kpi_week(warehouse, key)
    if isinstance(stored, CheckOutcome):
        return stored
    execution_id, amc_execution_id = stored.execution_id, stored.amc_execution_id
    week = stored.upstream
    current = week.execution_id if week is not None and week.is_completed else None
    metadata = {
        "execution_id": str(execution_id),
        "amc_execution_id": amc_execution_id,
        "upstream_execution_id": str(current or ""),
    }
    if current != execution_id or (week is not None and week.amc_execution_id != amc_execution_id):
        now = (
            f"execution {current}"
            if current
            else f"not completed ({week.status if week else 'no row'})"
        )
        return CheckOutcome(
            False,
            f"Stale: the KPIs were computed from execution {execution_id} (AMC "
            f"{amc_execution_id}) but the upstream week is now {now}: materialize the KPI week "
            "again.",
            metadata,
        )
    return CheckOutcome(
        True,
        f"Computed from the upstream week's current execution {execution_id} (AMC "
        f"{amc_execution_id}).",
        metadata,
    )


def kpi_rows_match_upstream(warehouse: Warehouse, key: WeekKey) -> CheckOutcome:
    """One KPI row per campaign of the upstream execution's rows."""
    stored = _stored_kpi_week(warehouse, key)
    if isinstance(stored, CheckOutcome):
        return stored
    execution_id, kpi_rows = stored.execution_id, stored.kpi_rows
    if stored.upstream is None or stored.upstream.execution_id != execution_id:
        return CheckOutcome(
            True,
            f"Not compared: the upstream week no longer holds execution {execution_id}'s rows "
            "(stale KPIs; see kpi_lineage_current).",
            {"execution_id": str(execution_id)},
        )
    campaigns = upstream_campaigns(warehouse, key, execution_id)
    metadata = {"kpi_rows": kpi_rows, "upstream_campaigns": campaigns}
    if kpi_rows != campaigns:
        return CheckOutcome(
            False,
            f"{kpi_rows} KPI rows but {campaigns} campaigns in the upstream rows of execution "
            f"{execution_id}: materialize the KPI week again.",
            metadata,
        )
    return CheckOutcome(
        True, f"{kpi_rows} KPI rows, one per campaign of execution {execution_id}.", metadata
    )
