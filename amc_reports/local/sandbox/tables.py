"""The AMC tables the sandbox serves, as DuckDB views over one window's synthetic events.

Column names and meanings follow AMC's documented data sources (a common subset of each):

- ``dsp_impressions``, ``dsp_clicks``, ``dsp_views``: Amazon DSP traffic (costs in millicents).
- ``sponsored_ads_traffic``: sponsored products, brands and display impressions and clicks, one row
  per event (``impressions`` or ``clicks`` is 1; ``spend`` in microcents, charged per click).
- ``amazon_attributed_events_by_traffic_time`` / ``..._by_conversion_time``: one row per
  (traffic event, conversion) pair, the window applied to the traffic or to the conversion.
- ``conversions``: one row per ad-attributed conversion event.

Times are in the execution's time zone (``*_utc`` columns in UTC). The engine loads the raw events
into ``_traffic``, ``_conv_by_traffic`` and ``_conv_by_conversion`` (already cut to the window and
to what has arrived by ``data_as_of``) and the dimensions into ``_campaigns`` etc.; the views here
turn them into AMC's columns.
"""

from __future__ import annotations

from functools import cache

import sqlglot

# Money: integer cents to AMC's DECIMAL(38, 4) currency amounts.
MACROS = ("CREATE MACRO _money(cents) AS CAST(cents / 100 AS DECIMAL(38, 4))",)

# Raw relations the engine fills (column -> DuckDB type).
RAW: dict[str, dict[str, str]] = {
    "_traffic": {
        "eid": "BIGINT",
        "ts": "BIGINT",
        "ts_utc": "BIGINT",
        "kind": "TINYINT",
        "campaign": "INTEGER",
        "line_item": "INTEGER",
        "creative": "INTEGER",
        "usr": "INTEGER",
        "device": "TINYINT",
        "term": "INTEGER",
        "match": "TINYINT",
        "cost": "BIGINT",
        "viewable": "BOOLEAN",
    },
    "_conversions": {
        "cid": "BIGINT",
        "ts": "BIGINT",
        "ts_utc": "BIGINT",
        "subtype": "TINYINT",
        "asin": "INTEGER",
        "units": "INTEGER",
        "sales_cents": "BIGINT",
        "halo": "BOOLEAN",
        "eid": "BIGINT",
        "t_ts": "BIGINT",
        "t_ts_utc": "BIGINT",
        "kind": "TINYINT",
        "campaign": "INTEGER",
        "line_item": "INTEGER",
        "creative": "INTEGER",
        "usr": "INTEGER",
        "term": "INTEGER",
        "match": "TINYINT",
    },
    "_campaigns": {
        "campaign": "INTEGER",
        "campaign_id": "BIGINT",
        "campaign_name": "VARCHAR",
        "ad_product_type": "VARCHAR",
        "advertiser": "VARCHAR",
        "advertiser_id": "BIGINT",
    },
    "_line_items": {"line_item": "INTEGER", "line_item_id": "BIGINT", "line_item_name": "VARCHAR"},
    "_creatives": {
        "creative": "INTEGER",
        "creative_id": "BIGINT",
        "creative_name": "VARCHAR",
        "creative_type": "VARCHAR",
        "creative_size": "VARCHAR",
        "creative_asin": "VARCHAR",
    },
    "_users": {"usr": "INTEGER", "user_id": "VARCHAR", "user_new_to_brand": "BOOLEAN"},
    "_asins": {"asin": "INTEGER", "asin_code": "VARCHAR", "unit_price": "DECIMAL(38, 4)"},
    "_devices": {"device": "TINYINT", "device_type": "VARCHAR", "operating_system": "VARCHAR"},
    "_terms": {"term": "INTEGER", "search_term": "VARCHAR"},
    "_match_types": {"match": "TINYINT", "match_type": "VARCHAR"},
    "_market": {"marketplace_name": "VARCHAR", "marketplace_id": "INTEGER", "currency": "VARCHAR"},
}

# Which conversions a table reads: attributed by the traffic's time, or by the conversion's time.
CONVERSIONS_BY_TRAFFIC = "amazon_attributed_events_by_traffic_time"

_TIME = """
    make_timestamp({ts} * 1000000) AS {p}_dt,
    CAST(make_timestamp({ts} * 1000000) AS DATE) AS {p}_date,
    CAST(({ts} % 86400) // 3600 AS INTEGER) AS {p}_hour,
    make_timestamp({utc} * 1000000) AS {p}_dt_utc,
    CAST(make_timestamp({utc} * 1000000) AS DATE) AS {p}_date_utc,
    CAST(({utc} % 86400) // 3600 AS INTEGER) AS {p}_hour_utc"""


def _time(prefix: str, ts: str, utc: str) -> str:
    return _TIME.format(p=prefix, ts=ts, utc=utc)


_DIMENSIONS = """
    JOIN _campaigns c USING (campaign)
    JOIN _line_items l USING (line_item)
    JOIN _creatives cr USING (creative)
    JOIN _users u USING (usr)
    CROSS JOIN _market m"""

_CAMPAIGN = """
    c.advertiser,
    c.advertiser_id,
    c.campaign_name AS campaign,
    c.campaign_id,
    CAST(c.campaign_id AS VARCHAR) AS campaign_id_string,
    l.line_item_name AS line_item,
    l.line_item_id,
    cr.creative_name AS creative,
    cr.creative_id,
    cr.creative_type,
    cr.creative_size"""

_DSP_TRAFFIC = f"""
SELECT
    CAST(t.eid AS VARCHAR) AS event_id,
    {{time}},{_CAMPAIGN},
    d.device_type,
    d.operating_system,
    CASE WHEN d.device_type = 'TV' THEN 'Streaming TV' WHEN t.eid % 3 = 0 THEN 'App'
         ELSE 'Web' END AS environment_type,
    CASE WHEN t.eid % 4 = 0 THEN 'Amazon Publisher Services' ELSE 'Amazon' END
        AS supply_source,
    m.marketplace_name,
    m.currency AS currency_iso_code,
    u.user_id,
    CASE WHEN t.eid % 10 = 0 THEN 'adBrowserId' ELSE 'adUserId' END AS user_id_type,
    {{metrics}}
FROM _traffic t{_DIMENSIONS}
    JOIN _devices d USING (device)
WHERE c.ad_product_type IS NULL AND {{where}}"""

_ATTRIBUTED = f"""
SELECT
    c.ad_product_type,{_CAMPAIGN},
    'C' || CAST(x.cid AS VARCHAR) AS conversion_id,
    CASE x.subtype WHEN 0 THEN 'purchase' ELSE 'website' END AS conversion_event_category,
    CASE x.subtype WHEN 0 THEN 'order' WHEN 1 THEN 'detailPageView' ELSE 'shoppingCart' END
        AS conversion_event_subtype,
    {{conversion_time}},
    CAST(x.eid AS VARCHAR) AS traffic_event_id,
    CASE x.kind WHEN 0 THEN 'AD_IMP' ELSE 'AD_CLICK' END AS traffic_event_subtype,
    {{traffic_time}},
    CASE WHEN x.kind = 0 THEN CAST(make_timestamp(x.t_ts * 1000000) AS DATE) END
        AS impression_date,
    CASE WHEN x.kind = 1 THEN CAST(make_timestamp(x.t_ts * 1000000) AS DATE) END AS click_date,
    a.asin_code AS tracked_asin,
    a.asin_code AS tracked_item,
    CAST(1 AS BIGINT) AS conversions,
    CAST(x.kind = 0 AS BIGINT) AS impressions,
    CAST(x.kind = 1 AS BIGINT) AS clicks,
    CAST(x.subtype = 0 AND NOT x.halo AS BIGINT) AS purchases,
    CASE WHEN x.subtype = 0 AND NOT x.halo THEN x.units ELSE 0 END::BIGINT AS units_sold,
    _money(CASE WHEN x.subtype = 0 AND NOT x.halo THEN x.sales_cents ELSE 0 END) AS product_sales,
    CAST(x.subtype = 0 AND x.halo AS BIGINT) AS brand_halo_purchases,
    CASE WHEN x.subtype = 0 AND x.halo THEN x.units ELSE 0 END::BIGINT AS brand_halo_units_sold,
    _money(CASE WHEN x.subtype = 0 AND x.halo THEN x.sales_cents ELSE 0 END)
        AS brand_halo_product_sales,
    CAST(x.subtype = 0 AS BIGINT) AS total_purchases,
    CASE WHEN x.subtype = 0 THEN x.units ELSE 0 END::BIGINT AS total_units_sold,
    _money(x.sales_cents) AS total_product_sales,
    CAST(x.subtype = 1 AS BIGINT) AS detail_page_view,
    CAST(x.subtype = 2 AS BIGINT) AS add_to_cart,
    CASE WHEN x.subtype = 0 THEN u.user_new_to_brand END AS new_to_brand,
    CAST(x.subtype = 0 AND NOT x.halo AND u.user_new_to_brand AS BIGINT)
        AS new_to_brand_purchases,
    CASE WHEN x.subtype = 0 AND NOT x.halo AND u.user_new_to_brand THEN x.units ELSE 0 END::BIGINT
        AS new_to_brand_units_sold,
    _money(CASE WHEN x.subtype = 0 AND NOT x.halo AND u.user_new_to_brand THEN x.sales_cents
        ELSE 0 END) AS new_to_brand_product_sales,
    _money(CASE WHEN x.subtype = 0 AND u.user_new_to_brand THEN x.sales_cents ELSE 0 END)
        AS new_to_brand_total_product_sales,
    s.search_term AS customer_search_term,
    s.search_term AS targeting,
    mt.match_type,
    u.user_id,
    'adUserId' AS user_id_type,
    m.marketplace_name,
    m.currency AS currency_iso_code
FROM _conversions x{_DIMENSIONS}
    JOIN _asins a USING (asin)
    LEFT JOIN _terms s USING (term)
    LEFT JOIN _match_types mt USING (match)
WHERE {{where}}"""

VIEWS: dict[str, str] = {
    "dsp_impressions": _DSP_TRAFFIC.format(
        time=_time("impression", "t.ts", "t.ts_utc"),
        metrics="""CAST(1 AS BIGINT) AS impressions,
    t.cost AS total_cost,
    CAST(t.cost * 0.8 AS BIGINT) AS impression_cost,
    CAST(t.cost * 0.2 AS BIGINT) AS supply_cost""",
        where="t.kind = 0",
    ),
    "dsp_clicks": _DSP_TRAFFIC.format(
        time=_time("click", "t.ts", "t.ts_utc"),
        metrics="CAST(1 AS BIGINT) AS clicks, t.cost AS click_cost",
        where="t.kind = 1",
    ),
    "dsp_views": _DSP_TRAFFIC.format(
        time=_time("event", "t.ts + 1", "t.ts_utc + 1"),
        metrics="""'MRC' AS view_definition,
    CAST(1 AS BIGINT) AS viewable_impressions,
    CAST(0 AS BIGINT) AS unmeasurable_viewable_impressions,
    CAST(cr.creative_type = 'video' AND t.eid % 3 <> 0 AS BIGINT) AS video_complete_views""",
        where="t.kind = 0 AND t.viewable",
    ),
    "sponsored_ads_traffic": f"""
SELECT
    CAST(t.eid AS VARCHAR) AS event_id,
    {_time("event", "t.ts", "t.ts_utc")},
    c.ad_product_type,{_CAMPAIGN},
    l.line_item_name AS ad_group,
    l.line_item_id AS ad_group_id,
    cr.creative_asin,
    CASE c.ad_product_type WHEN 'sponsored_display' THEN 'Detail Page on-Amazon'
         WHEN 'sponsored_brands' THEN 'Top of Search on-Amazon'
         ELSE CASE WHEN t.eid % 3 = 0 THEN 'Detail Page on-Amazon'
                   ELSE 'Top of Search on-Amazon' END END AS placement_type,
    s.search_term AS customer_search_term,
    s.search_term AS targeting,
    mt.match_type,
    CAST(t.kind = 0 AS BIGINT) AS impressions,
    CAST(t.kind = 1 AS BIGINT) AS clicks,
    t.cost AS spend,
    CAST(t.kind = 0 AND t.viewable AS BIGINT) AS viewable_impressions,
    d.operating_system,
    m.marketplace_name,
    m.currency AS currency_iso_code,
    u.user_id,
    'adUserId' AS user_id_type
FROM _traffic t{_DIMENSIONS}
    JOIN _devices d USING (device)
    LEFT JOIN _terms s USING (term)
    LEFT JOIN _match_types mt USING (match)
WHERE c.ad_product_type IS NOT NULL""",
    CONVERSIONS_BY_TRAFFIC: _ATTRIBUTED.format(
        conversion_time=_time("conversion_event", "x.ts", "x.ts_utc"),
        traffic_time=_time("traffic_event", "x.t_ts", "x.t_ts_utc"),
        where="x.t_ts >= getvariable('window_start') AND x.t_ts < getvariable('window_end')",
    ),
    "amazon_attributed_events_by_conversion_time": _ATTRIBUTED.format(
        conversion_time=_time("conversion_event", "x.ts", "x.ts_utc"),
        traffic_time=_time("traffic_event", "x.t_ts", "x.t_ts_utc"),
        where="x.ts >= getvariable('window_start') AND x.ts < getvariable('window_end')",
    ),
    "conversions": f"""
SELECT
    'C' || CAST(x.cid AS VARCHAR) AS conversion_id,
    {_time("event", "x.ts", "x.ts_utc")},
    'CONVERSION' AS event_type,
    CASE x.subtype WHEN 0 THEN 'purchase' ELSE 'website' END AS event_category,
    CASE x.subtype WHEN 0 THEN 'order' WHEN 1 THEN 'detailPageView' ELSE 'shoppingCart' END
        AS event_subtype,
    CASE x.subtype WHEN 0 THEN 'conversion' ELSE 'consideration' END AS event_type_class,
    CASE x.subtype WHEN 0 THEN 'Product purchased' WHEN 1 THEN 'Product detail page viewed'
         ELSE 'Add to Shopping Cart' END AS event_type_description,
    CAST(1 AS BIGINT) AS conversions,
    a.asin_code AS tracked_asin,
    a.asin_code AS tracked_item,
    CASE WHEN x.subtype = 0 THEN a.unit_price END AS purchase_unit_price,
    m.currency AS purchase_currency,
    _money(x.sales_cents) AS total_product_sales,
    CAST(x.units AS BIGINT) AS total_units_sold,
    _money(x.sales_cents) AS combined_sales,
    CAST(0 AS BIGINT) AS off_amazon_product_sales,
    CAST(0 AS BIGINT) AS off_amazon_conversion_value,
    CASE WHEN x.subtype = 0 THEN u.user_new_to_brand END AS new_to_brand,
    FALSE AS no_3p_trackers,
    m.marketplace_name,
    m.marketplace_id,
    u.user_id,
    'adUserId' AS user_id_type
FROM _conversions x
    JOIN _users u USING (usr)
    JOIN _asins a USING (asin)
    CROSS JOIN _market m
WHERE x.ts >= getvariable('window_start') AND x.ts < getvariable('window_end')""",
}

TABLES = frozenset(VIEWS)
# Tables whose conversions are cut by the conversion's time (they need the 14 days before).
READS_EARLIER_TRAFFIC = frozenset({"amazon_attributed_events_by_conversion_time", "conversions"})


@cache
def columns(table: str) -> tuple[str, ...]:
    """The columns of one AMC table, as its view names them (in order)."""
    return tuple(sqlglot.parse_one(VIEWS[table], dialect="duckdb").named_selects)
