"""The campaign KPI computation (pure pandas): ratios, zeros and NULLs."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest

from amc_reports.analytics.kpis import compute_campaign_kpis, kpi_records
from amc_reports.warehouse.kpis import KPI_VALUE_COLUMNS


def frame(*rows: dict) -> pd.DataFrame:
    base = {
        "campaign_id": 1,
        "campaign_name": "c",
        "impressions": 1000,
        "clicks": 50,
        "spend": 25.0,
        "purchases": 10,
        "sales": Decimal("100.5000"),
        "new_to_brand_purchases": 4,
    }
    return pd.DataFrame(
        {k: pd.Series([{**base, **r}[k] for r in rows], dtype=object) for k in base}
    )


def by_campaign(kpis: pd.DataFrame) -> dict:
    return {r["campaign_id"]: r for r in kpi_records(kpis)}


def test_ratios_per_campaign():
    kpis = compute_campaign_kpis(frame({}, {"campaign_id": 2, "clicks": 10, "spend": 5.0}))
    assert list(kpis.columns) == list(KPI_VALUE_COLUMNS)
    one, two = by_campaign(kpis)["1"], by_campaign(kpis)["2"]
    assert one["click_through_rate"] == pytest.approx(0.05)
    assert one["cost_per_click"] == pytest.approx(0.5)
    assert one["return_on_ad_spend"] == pytest.approx(100.5 / 25)
    assert one["new_to_brand_share"] == pytest.approx(0.4)
    assert (two["click_through_rate"], two["cost_per_click"]) == (0.01, 0.5)
    assert isinstance(one["impressions"], int) and one["campaign_name"] == "c"


def test_rows_of_one_campaign_are_summed():
    [row] = kpi_records(compute_campaign_kpis(frame({}, {"impressions": 3000, "clicks": 150})))
    assert (row["impressions"], row["clicks"], row["purchases"]) == (4000, 200, 20)
    assert row["click_through_rate"] == pytest.approx(0.05)


def test_a_zero_denominator_gives_null_not_infinity():
    zeros = frame({"impressions": 0, "clicks": 0, "spend": 0.0, "purchases": 0})
    [row] = kpi_records(compute_campaign_kpis(zeros))
    for kpi in ("click_through_rate", "cost_per_click", "return_on_ad_spend", "new_to_brand_share"):
        assert row[kpi] is None, kpi
    # 0 / x is a real 0, not NULL
    [row] = kpi_records(compute_campaign_kpis(frame({"clicks": 0, "new_to_brand_purchases": 0})))
    assert row["click_through_rate"] == 0.0 and row["new_to_brand_share"] == 0.0
    assert row["cost_per_click"] is None  # spend over no click


def test_nulls_stay_unknown():
    kpis = compute_campaign_kpis(
        frame(
            {"campaign_id": None, "campaign_name": None, "spend": None, "sales": None},
            {"campaign_id": 7, "clicks": None},
        )
    )
    rows = by_campaign(kpis)
    assert set(rows) == {None, "7"}  # a NULL campaign id is one campaign of its own
    unknown = rows[None]
    assert unknown["spend"] is None and unknown["cost_per_click"] is None
    assert unknown["return_on_ad_spend"] is None
    assert unknown["click_through_rate"] == pytest.approx(0.05)
    assert rows["7"]["clicks"] is None and rows["7"]["click_through_rate"] is None
    assert not any(
        isinstance(v, float) and (math.isinf(v) or math.isnan(v))
        for row in rows.values()
        for v in row.values()
    )


def test_large_campaign_ids_keep_every_digit():
    [row] = kpi_records(compute_campaign_kpis(frame({"campaign_id": 123456789012345678})))
    assert row["campaign_id"] == "123456789012345678"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="new_to_brand_purchases"):
        compute_campaign_kpis(frame({}).drop(columns=["new_to_brand_purchases"]))
