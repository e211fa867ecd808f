"""The AMC tables the sandbox serves: DuckDB views generated from `amc_schema.yaml`.

Each table of the schema file has one row per synthetic event of one *row source* (below): DSP
impressions, clicks or views, sponsored ads traffic, attributed conversions by traffic or by
conversion time, conversions, audience segment members, segments. A row source says where its
rows come from (the raw relations the engine fills, ``RAW``), which *facts* are known of a row
(SQL expressions: its user, campaign, cost, ...), its *clocks* (moments, in local and UTC
seconds), its *filters* (conditions such as ``purchase`` or ``click``) and its units and sales.
A column's role (see the schema file's header) is turned into SQL over those; a new table or
column is a line in the schema file, not code here.

Times are in the execution's time zone (``*_utc`` columns in UTC). The engine loads the raw events
into ``_traffic`` and ``_conversions`` (already cut to the window and to what has arrived by
``data_as_of``) and the dimensions into ``_campaigns`` etc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from amc_reports.local.sandbox import schema as amc_schema
from amc_reports.local.sandbox.schema import Column, SchemaError, Table

# What is known of an ad event (a touch): in `_traffic` per event, in `_conversions` per
# conversion for the touch it is attributed to.
_TOUCH: dict[str, str] = {
    "kind": "TINYINT",
    "campaign": "INTEGER",
    "line_item": "INTEGER",
    "creative": "INTEGER",
    "usr": "INTEGER",
    "device": "TINYINT",
    "term": "INTEGER",
    "match": "TINYINT",
}

# Raw relations the engine fills (column -> DuckDB type).
RAW: dict[str, dict[str, str]] = {
    "_traffic": {
        "eid": "BIGINT",
        "ts": "BIGINT",
        "ts_utc": "BIGINT",
        **_TOUCH,
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
        **_TOUCH,
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


def _segments_view() -> str:
    """The audience segments of the schema file, as a relation (static: the same everywhere)."""
    rows = ", ".join(
        "({}, {}, {}, {}, {}, {}, {})".format(
            _quote(s.family),
            s.segment_id,
            _quote(s.name),
            _quote(f"Shoppers of {s.category_level_2.lower()} ({s.category_level_1})"),
            _quote(s.category_level_1),
            _quote(s.category_level_2),
            s.per_mille,
        )
        for s in amc_schema.load().segments
    )
    return (
        "CREATE VIEW _segments AS SELECT * FROM (VALUES "
        + rows
        + ") AS v(family, segment_id, segment_name, segment_description, category_level_1,"
        " category_level_2, per_mille)"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Statements run on every connection before the views: macros and static relations.
SETUP = (
    # Money: integer cents to AMC's DECIMAL(38, 4) currency amounts.
    "CREATE MACRO _money(cents) AS CAST(cents / 100 AS DECIMAL(38, 4))",
    # A stable choice among n values for a key (the same key, column and n: the same choice).
    "CREATE MACRO _pick(key, salt, n) AS 1 + CAST(hash(key, salt) % n AS BIGINT)",
    _segments_view(),
)


@dataclass(frozen=True)
class RowSource:
    """One kind of synthetic row: where the rows come from and what is known of each."""

    from_: str  # FROM ... JOIN ... (may use {segments}, the table's segment family)
    where: str
    key: str  # a number unique per row: the neutral and picked values derive from it
    facts: Mapping[str, str]
    clocks: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # local, UTC seconds
    filters: Mapping[str, str] = field(default_factory=dict)
    units: str | None = None
    sales_cents: str | None = None
    reads: frozenset[str] = frozenset()  # "traffic", "conversions", "earlier" (14 days before)


# -- the row sources ------------------------------------------------------------------------------

_WINDOW = "getvariable('window_start') >= 0"  # (always true; keeps `where` a condition)
_CAMPAIGN_CLOCKS = {
    # Campaigns started some weeks before the window and end some weeks after it (whole days).
    "campaign_start": (
        "(getvariable('window_start') // 86400 - 7 * (c.campaign % 5 + 2)) * 86400",
        "(getvariable('window_start') // 86400 - 7 * (c.campaign % 5 + 2)) * 86400",
    ),
    "campaign_end": (
        "(getvariable('window_end') // 86400 + 7 * (c.campaign % 4 + 3)) * 86400",
        "(getvariable('window_end') // 86400 + 7 * (c.campaign % 4 + 3)) * 86400",
    ),
}
_CURRENCY_NAMES = {
    "USD": "US Dollar",
    "CAD": "Canadian Dollar",
    "GBP": "British Pound",
    "EUR": "Euro",
    "JPY": "Japanese Yen",
}
_CURRENCY_NAME = (
    "CASE m.currency "
    + " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in _CURRENCY_NAMES.items())
    + " END"
)
_SEGMENT_MEMBER = "hash({usr}, s.segment_id) % 1000 < s.per_mille"
_LINE_ITEM_TARGETS = "hash({line_item}, s.segment_id) % 3 = 0"


def _segment_ids(usr: str, line_item: str | None = None) -> str:
    """The ids of the segments a user belongs to (and, with ``line_item``, that the line item
    targets): a list expression over the schema's segments, no subquery (DuckDB prunes it when
    a query does not read the column)."""
    condition = _SEGMENT_MEMBER.format(usr=usr).replace("s.segment_id", "g.id")
    condition = condition.replace("s.per_mille", "g.pm")
    if line_item is not None:
        condition += " AND " + _LINE_ITEM_TARGETS.format(line_item=line_item).replace(
            "s.segment_id", "g.id"
        )
    segments = ", ".join(
        f"{{'id': {s.segment_id}, 'pm': {s.per_mille}}}" for s in amc_schema.load().segments
    )
    return f"[g.id FOR g IN [{segments}] IF {condition}]"


def _ad_facts(x: str) -> dict[str, str]:
    """What is known of an ad event's advertiser, campaign, line item, creative and user (the
    dimension relations joined as c, l, cr, u, m; ``x`` the event's relation)."""
    return {
        "advertiser": "c.advertiser",
        "advertiser_id": "c.advertiser_id",
        "advertiser_timezone": "getvariable('time_zone')",
        "campaign": "c.campaign_name",
        "campaign_id": "c.campaign_id",
        "campaign_id_string": "CAST(c.campaign_id AS VARCHAR)",
        "campaign_flight_id": "c.campaign_id + 11",
        "campaign_insertion_order_id": "'IO-' || CAST(c.campaign_id AS VARCHAR)",
        "campaign_budget": "(c.campaign % 5 + 1) * CAST(500000000 AS BIGINT)",
        "portfolio_id": "c.advertiser_id * 10 + c.campaign % 3",
        "portfolio_name": "c.advertiser || ' portfolio ' || CAST(c.campaign % 3 + 1 AS VARCHAR)",
        "line_item": "l.line_item_name",
        "line_item_id": "l.line_item_id",
        "line_item_budget": "(l.line_item % 4 + 1) * CAST(100000000 AS BIGINT)",
        "line_item_type": (
            "CASE WHEN c.ad_product_type IS NOT NULL THEN upper(c.ad_product_type) "
            "WHEN c.campaign_name LIKE '%Streaming TV%' THEN 'STREAMING_TV' "
            "WHEN cr.creative_type = 'video' THEN 'VIDEO' ELSE 'DISPLAY' END"
        ),
        "creative": "cr.creative_name",
        "creative_id": "cr.creative_id",
        "creative_type": "cr.creative_type",
        "creative_size": "cr.creative_size",
        "creative_asin": "cr.creative_asin",
        "creative_duration": "CASE WHEN cr.creative_type = 'video' THEN 30 ELSE 0 END",
        "ad_product_type": "c.ad_product_type",
        "ad_product_type_id": (
            "CASE c.ad_product_type WHEN 'sponsored_products' THEN 1 "
            "WHEN 'sponsored_brands' THEN 2 WHEN 'sponsored_display' THEN 3 END"
        ),
        "marketplace_name": "m.marketplace_name",
        "marketplace_id": "m.marketplace_id",
        "currency_iso_code": "m.currency",
        "currency_name": _CURRENCY_NAME,
        "device_type": "d.device_type",
        "operating_system": "d.operating_system",
        "device_id": f"'DEV-' || CAST({x}.usr AS VARCHAR)",
        "merchant_id": "c.advertiser_id % 100000",
        "user_id": "u.user_id",
        "user_segment_ids": _segment_ids(f"{x}.usr"),
        "matched_segment_ids": _segment_ids(f"{x}.usr", f"{x}.line_item"),
        "search_term": "s.search_term",
        "match_type": "mt.match_type",
        "environment_type": (
            f"CASE WHEN d.device_type = 'TV' THEN 'Streaming TV' WHEN {x}.eid % 3 = 0 THEN 'App' "
            "ELSE 'Web' END"
        ),
        "placement_type": (
            "CASE c.ad_product_type WHEN 'sponsored_display' THEN 'Detail Page on-Amazon' "
            "WHEN 'sponsored_brands' THEN 'Top of Search on-Amazon' "
            f"WHEN 'sponsored_products' THEN CASE WHEN {x}.eid % 3 = 0 "
            "THEN 'Detail Page on-Amazon' ELSE 'Top of Search on-Amazon' END END"
        ),
    }


_AD_JOINS = """
    JOIN _campaigns c USING (campaign)
    JOIN _line_items l USING (line_item)
    JOIN _creatives cr USING (creative)
    JOIN _users u USING (usr)
    JOIN _devices d USING (device)
    CROSS JOIN _market m"""
_TERM_JOINS = """
    LEFT JOIN _terms s USING (term)
    LEFT JOIN _match_types mt USING (match)"""

_TRAFFIC_FACTS = {
    **_ad_facts("t"),
    "event_id": "CAST(t.eid AS VARCHAR)",
    "impression_id": "CAST(t.eid AS VARCHAR)",
    "cost": "t.cost",
    "cost_microcents": "t.cost * 1000",
    "supply_source": ("CASE WHEN t.eid % 4 = 0 THEN 'Amazon Publisher Services' ELSE 'Amazon' END"),
    "supply_source_id": "t.eid % 4 + 1",
    "is_amazon_owned": "t.eid % 4 <> 0",
    "view_rate": "0.55 + (t.eid % 40) / 100.0",
    "user_id_type": "CASE WHEN t.eid % 10 = 0 THEN 'adBrowserId' ELSE 'adUserId' END",
    "video_complete": ("CAST(cr.creative_type = 'video' AND t.eid % 100 < 65 AS BIGINT)"),
    "line_item_price_type": (
        "CASE WHEN c.ad_product_type = 'sponsored_display' AND l.line_item % 2 = 0 "
        "THEN 'VCPM' ELSE 'CPC' END"
    ),
}
# Video progress of an impression: each stage a subset of the one before.
_TRAFFIC_FILTERS = {
    "impression": "t.kind = 0",
    "click": "t.kind = 1",
    "viewable": "t.viewable",
    "video": "cr.creative_type = 'video'",
    "started": "t.eid % 100 < 95",
    "first_quartile": "t.eid % 100 < 85",
    "midpoint": "t.eid % 100 < 78",
    "third_quartile": "t.eid % 100 < 71",
    "completed": "t.eid % 100 < 65",
    "muted": "t.eid % 100 >= 90",
}
_EVENT_CLOCK = {"event": ("t.ts", "t.ts_utc"), **_CAMPAIGN_CLOCKS}
_TRAFFIC = f"_traffic t{_AD_JOINS}"


def _traffic(
    where: str, clocks: Mapping[str, tuple[str, str]], joins: str = "", key: str = "t.eid"
) -> RowSource:
    return RowSource(
        from_=_TRAFFIC + joins,
        where=where,
        key=key,
        facts=_TRAFFIC_FACTS,
        clocks=clocks,
        filters=_TRAFFIC_FILTERS,
        reads=frozenset({"traffic"}),
    )


_DSP_IMPRESSION = "c.ad_product_type IS NULL AND t.kind = 0"
_SEGMENT_FACTS = {
    "segment_id": "s.segment_id",
    "segment_name": "s.segment_name",
    "segment_description": "s.segment_description",
    "segment_matched": f"CAST({_LINE_ITEM_TARGETS.format(line_item='t.line_item')} AS BIGINT)",
}


def _dsp_by_segments(matched: bool) -> RowSource:
    condition = _SEGMENT_MEMBER.format(usr="t.usr")
    if matched:
        condition += " AND " + _LINE_ITEM_TARGETS.format(line_item="t.line_item")
    base = _traffic(
        _DSP_IMPRESSION,
        _EVENT_CLOCK,
        f"\n    JOIN _segments s ON {condition}",
        key="t.eid * 1000 + s.segment_id % 1000",
    )
    return RowSource(**{**base.__dict__, "facts": {**_TRAFFIC_FACTS, **_SEGMENT_FACTS}})


def _conversion_facts() -> dict[str, str]:
    subtype = "x.subtype"
    return {
        **_ad_facts("x"),
        "conversion_id": "'C' || CAST(x.cid AS VARCHAR)",
        "event_id": "CAST(x.eid AS VARCHAR)",
        "asin": "a.asin_code",
        "asin_name": "c.advertiser || ' item ' || a.asin_code",
        "units": "x.units",
        "event_category": f"CASE {subtype} WHEN 0 THEN 'purchase' ELSE 'website' END",
        "event_subtype": (
            f"CASE {subtype} WHEN 0 THEN 'order' WHEN 1 THEN 'detailPageView' "
            "ELSE 'shoppingCart' END"
        ),
        "event_type_class": f"CASE {subtype} WHEN 0 THEN 'conversion' ELSE 'consideration' END",
        "event_type_description": (
            f"CASE {subtype} WHEN 0 THEN 'Product purchased' "
            "WHEN 1 THEN 'Product detail page viewed' ELSE 'Add to Shopping Cart' END"
        ),
        "traffic_event_type": "CASE x.kind WHEN 0 THEN 'AD_IMP' ELSE 'AD_CLICK' END",
        "new_to_brand": "CASE WHEN x.subtype = 0 THEN u.user_new_to_brand END",
        "purchase_unit_price": "CASE WHEN x.subtype = 0 THEN a.unit_price END",
        "engagement_scope": "CASE WHEN x.halo THEN 'BRAND_HALO' ELSE 'PROMOTED' END",
        "halo_code": "CASE WHEN x.halo THEN 'BRAND_HALO_ASIN' END",
        "exposure_type": "'ad-exposed'",
        "sns_subscription_id": (
            "CASE WHEN x.subtype = 0 AND x.cid % 20 = 0 THEN 'SNS-' || CAST(x.cid AS VARCHAR) END"
        ),
        "supply_source": "'Amazon'",
        "user_id_type": "'adUserId'",
    }


_CONVERSION_FILTERS = {
    "any": "TRUE",
    "purchase": "x.subtype = 0",
    "dpv": "x.subtype = 1",
    "atc": "x.subtype = 2",
    "promoted": "NOT x.halo",
    "halo": "x.halo",
    "ntb": "u.user_new_to_brand",
    "impression": "x.kind = 0",
    "view": "x.kind = 0",
    "click": "x.kind = 1",
    "sns": "x.cid % 20 = 0",
    # The sandbox's advertiser sells on Amazon only: no pixel or app conversions.
    "off_amazon": "FALSE",
    "subscription": "FALSE",
    "free_trial": "FALSE",
    "paid": "FALSE",
    "app": "FALSE",
}
_CONVERSION_CLOCKS = {
    "conversion": ("x.ts", "x.ts_utc"),
    "traffic": ("x.t_ts", "x.t_ts_utc"),
    "impression": (
        "CASE WHEN x.kind = 0 THEN x.t_ts END",
        "CASE WHEN x.kind = 0 THEN x.t_ts_utc END",
    ),
    "click": ("CASE WHEN x.kind = 1 THEN x.t_ts END", "CASE WHEN x.kind = 1 THEN x.t_ts_utc END"),
    **_CAMPAIGN_CLOCKS,
}
_IN_WINDOW = "{ts} >= getvariable('window_start') AND {ts} < getvariable('window_end')"


# What a conversion alone needs (no line item, creative or search term): the tables
# without campaign columns read less.
_CONVERSION_JOINS = """
    JOIN _campaigns c USING (campaign)
    JOIN _users u USING (usr)
    JOIN _devices d USING (device)
    CROSS JOIN _market m
    JOIN _asins a USING (asin)"""


def _conversions(window_on: str, reads: frozenset[str], *, ads: bool = True) -> RowSource:
    joins = (
        f"{_AD_JOINS}\n    JOIN _asins a USING (asin){_TERM_JOINS}" if ads else _CONVERSION_JOINS
    )
    return RowSource(
        from_=f"_conversions x{joins}",
        where=_IN_WINDOW.format(ts=window_on),
        key="x.cid",
        facts=_conversion_facts(),
        clocks=_CONVERSION_CLOCKS,
        filters=_CONVERSION_FILTERS,
        units="x.units",
        sales_cents="x.sales_cents",
        reads=reads,
    )


def _all_conversions() -> RowSource:
    """Every conversion of the window, and as many again from users no ad reached: a quarter of
    the ad-exposed ones, repeated by another user of the pool (``o.organic``), as AMC's
    conversions_all holds ad-exposed and non-ad-exposed conversions."""
    exposed = _conversions("x.ts", _BY_CONVERSION, ads=False)
    organic_user = "(x.usr * 7919 + 13) % (SELECT count(*) FROM _users)"
    from_ = "_conversions x CROSS JOIN (VALUES (FALSE), (TRUE)) AS o(organic)" + (
        _CONVERSION_JOINS.replace(
            "JOIN _users u USING (usr)",
            f"JOIN _users u ON u.usr = CASE WHEN o.organic THEN {organic_user} ELSE x.usr END",
        )
    )
    facts = {
        **exposed.facts,
        "conversion_id": "CASE WHEN o.organic THEN 'N' ELSE 'C' END || CAST(x.cid AS VARCHAR)",
        "exposure_type": "CASE WHEN o.organic THEN 'non-ad-exposed' ELSE 'ad-exposed' END",
    }
    return RowSource(
        **{
            **exposed.__dict__,
            "from_": from_,
            "where": f"({exposed.where}) AND (NOT o.organic OR x.cid % 4 = 0)",
            "key": "x.cid * 2 + CAST(o.organic AS BIGINT)",
            "facts": facts,
        }
    )


_BY_TRAFFIC = frozenset({"conversions"})
_BY_CONVERSION = frozenset({"conversions", "earlier"})

_SEGMENT_CLOCKS = {
    # Snapshots are taken weekly, on the window's first Sunday at midnight (UTC).
    "snapshot": (
        "(getvariable('window_start') // 604800) * 604800 + 259200",
        "(getvariable('window_start') // 604800) * 604800 + 259200",
    )
}

ROW_SOURCES: dict[str, RowSource] = {
    "dsp_impressions": _traffic(_DSP_IMPRESSION, _EVENT_CLOCK),
    "dsp_impressions_by_user_segments": _dsp_by_segments(matched=False),
    "dsp_impressions_by_matched_segments": _dsp_by_segments(matched=True),
    "dsp_clicks": _traffic(
        "c.ad_product_type IS NULL AND t.kind = 1",
        {
            **_EVENT_CLOCK,
            # the impression that was clicked, 2 to 89 seconds earlier
            "impression": ("t.ts - 2 - t.eid % 88", "t.ts_utc - 2 - t.eid % 88"),
        },
    ),
    "dsp_views": _traffic(
        "c.ad_product_type IS NULL AND t.kind = 0 AND t.viewable",
        {"event": ("t.ts + 1", "t.ts_utc + 1"), **_CAMPAIGN_CLOCKS},
    ),
    "sponsored_ads": _traffic("c.ad_product_type IS NOT NULL", _EVENT_CLOCK, _TERM_JOINS),
    "attributed_by_traffic_time": _conversions("x.t_ts", _BY_TRAFFIC),
    "attributed_by_conversion_time": _conversions("x.ts", _BY_CONVERSION),
    "conversions": _conversions("x.ts", _BY_CONVERSION, ads=False),
    "all_conversions": _all_conversions(),
    "audience_segments": RowSource(
        from_=(
            "_users u JOIN _segments s ON s.family = '{segments}' AND "
            + _SEGMENT_MEMBER.format(usr="u.usr")
            + "\n    CROSS JOIN _market m"
        ),
        where=_WINDOW,
        key="u.usr * 1000 + s.segment_id % 1000",
        facts={
            "user_id": "u.user_id",
            "segment_id": "s.segment_id",
            "segment_name": "s.segment_name",
            "marketplace_id": "m.marketplace_id",
        },
        clocks=_SEGMENT_CLOCKS,
    ),
    # One row per user of the pool (the paid per-user data sets: vehicles, streaming, ...).
    "users": RowSource(
        from_="_users u CROSS JOIN _market m",
        where=_WINDOW,
        key="u.usr",
        facts={
            "user_id": "u.user_id",
            "marketplace_id": "m.marketplace_id",
            "marketplace_name": "m.marketplace_name",
        },
        clocks={
            "event": (
                "getvariable('window_start') + u.usr % 86400",
                "getvariable('window_start') + u.usr % 86400",
            )
        },
    ),
    "segments": RowSource(
        from_="_segments s CROSS JOIN _market m",
        where=_WINDOW,
        key="s.segment_id",
        facts={
            "segment_id": "s.segment_id",
            "segment_name": "s.segment_name",
            "segment_description": "s.segment_description",
            "category_level_1": "s.category_level_1",
            "category_level_2": "s.category_level_2",
            "category_path": "s.category_level_1 || ' > ' || s.category_level_2",
            "marketplace_id": "m.marketplace_id",
        },
    ),
}

# -- columns to SQL -------------------------------------------------------------------------------

# The part of a moment a time column holds, by the end of its name (longest first).
_TIME_PARTS = (
    ("_dt_hour", "make_timestamp((CAST({s} AS BIGINT) // 3600) * 3600000000)"),
    ("_dt", "make_timestamp(CAST({s} AS BIGINT) * 1000000)"),
    ("_date", "CAST(make_timestamp(CAST({s} AS BIGINT) * 1000000) AS DATE)"),
    ("_hour", "CAST((CAST({s} AS BIGINT) % 86400) // 3600 AS INTEGER)"),
    ("_day", "CAST(dayofmonth(make_timestamp(CAST({s} AS BIGINT) * 1000000)) AS INTEGER)"),
    ("_month", "CAST(month(make_timestamp(CAST({s} AS BIGINT) * 1000000)) AS INTEGER)"),
    ("_datetime", "make_timestamp(CAST({s} AS BIGINT) * 1000000)"),
)
_NEUTRAL = {
    "STRING": "'{name} ' || CAST(_pick({key}, '{name}', 5) AS VARCHAR)",
    "LONG": "0",
    "INTEGER": "0",
    "DOUBLE": "0",
    "DECIMAL": "0",
    "BOOLEAN": "FALSE",
    "DATE": "NULL",
    "TIMESTAMP": "NULL",
    "ARRAY<STRING>": "[]",
    "ARRAY<LONG>": "[]",
}


class _TableSql:
    """The SELECT list of one table's view, column by column (roles resolved in three passes:
    plain ones, then ``rest:``, then ``sum:``, which read the others)."""

    def __init__(self, table: Table, source: RowSource) -> None:
        self.table = table
        self.source = source
        self.raw: dict[str, str] = {}  # column -> its expression before the cast

    def fail(self, column: Column, why: str) -> SchemaError:
        return SchemaError(
            f"table {self.table.name}, column {column.name} ({column.role or 'no role'}): {why}"
        )

    def fact(self, column: Column, name: str) -> str:
        if name not in self.source.facts:
            raise self.fail(column, f"the row source {self.table.rows!r} knows no {name!r}")
        return self.source.facts[name]

    def condition(self, column: Column, names: str) -> str:
        parts = []
        for name in names.split("&"):
            if name not in self.source.filters:
                known = ", ".join(self.source.filters) or "none"
                raise self.fail(column, f"unknown filter {name!r} (known: {known})")
            parts.append(f"({self.source.filters[name]})")
        return " AND ".join(parts)

    def time(self, column: Column, clock: str) -> str:
        if clock not in self.source.clocks:
            known = ", ".join(self.source.clocks) or "none"
            raise self.fail(column, f"unknown clock {clock!r} (known: {known})")
        local, utc = self.source.clocks[clock]
        name = column.name
        seconds = utc if name.endswith("_utc") else local
        name = name.removesuffix("_utc")
        for ending, template in _TIME_PARTS:
            if name.endswith(ending):
                return template.format(s=seconds)
        raise self.fail(column, "a time column's name ends in _dt, _date, _hour, _day, ...")

    def plain(self, column: Column) -> str | None:
        """The expression of a column whose role reads no other column (None: later)."""
        role = column.role
        kind, _, arg = role.partition(":")
        if role == "":
            if column.name in self.source.facts:
                return self.source.facts[column.name]
            if column.type in ("LONG", "INTEGER") and column.name.endswith("_id"):
                return f"_pick({self.source.key}, '{column.name}', 1000000)"
            return _NEUTRAL[column.type].format(name=column.name, key=self.source.key)
        if role == "null":
            return "NULL"
        if ":" not in role:
            return self.fact(column, role)
        if kind in ("rest", "sum"):
            return None
        if kind == "time":
            return self.time(column, arg)
        if kind == "count":
            return f"CAST({self.condition(column, arg)} AS BIGINT)"
        if kind in ("units", "sales"):
            measure = self.source.units if kind == "units" else self.source.sales_cents
            if measure is None:
                raise self.fail(column, f"the row source {self.table.rows!r} has no {kind}")
            value = f"CASE WHEN {self.condition(column, arg)} THEN {measure} ELSE 0 END"
            return f"_money({value})" if kind == "sales" else value
        if kind in ("share", "part"):
            fact, _, fraction = arg.partition(":")
            float(fraction)  # a number, else ValueError below
            return f"CAST(({self.fact(column, fact)}) * {fraction} AS BIGINT)"
        if kind == "const":
            return _quote(arg)
        if kind.startswith("pick"):
            _, _, by = kind.partition("@")
            key = self.fact(column, by) if by else self.source.key
            values = arg.split("|")
            listed = ", ".join("NULL" if v == "" else _quote(v) for v in values)
            return f"([{listed}])[_pick({key}, '{column.name}', {len(values)})]"
        raise self.fail(column, "unknown role")

    def select_list(self) -> str:
        columns = self.table.columns
        for column in columns:
            try:
                expression = self.plain(column)
            except ValueError as exc:
                if isinstance(exc, SchemaError):
                    raise
                raise self.fail(column, str(exc)) from None
            if expression is not None:
                self.raw[column.name] = expression
        for column in columns:  # rest:<fact>: the fact minus the table's parts of it
            kind, _, fact = column.role.partition(":")
            if kind == "rest":
                parts = [self.raw[c.name] for c in columns if c.role.startswith(f"part:{fact}:")]
                self.raw[column.name] = f"({self.fact(column, fact)}) - " + (
                    " - ".join(parts) if parts else "0"
                )
        for column in columns:
            kind, _, terms = column.role.partition(":")
            if kind == "sum":
                missing = [t for t in terms.split("+") if t not in self.raw]
                if missing:
                    raise self.fail(column, f"sums columns it does not have: {missing}")
                self.raw[column.name] = " + ".join(f"({self.raw[t]})" for t in terms.split("+"))
        return ",\n    ".join(
            f"CAST({self.raw[c.name]} AS {c.duckdb_type}) AS {c.name}" for c in columns
        )


def view_sql(table: Table) -> str:
    """The SELECT behind one table's view."""
    if table.rows not in ROW_SOURCES:
        known = ", ".join(ROW_SOURCES)
        raise SchemaError(f"table {table.name}: unknown row source {table.rows!r} ({known})")
    source = ROW_SOURCES[table.rows]
    where = source.where
    if table.only is not None:
        if table.only not in source.filters:
            raise SchemaError(f"table {table.name}: unknown filter {table.only!r} ('only:')")
        where = f"({where}) AND ({source.filters[table.only]})"
    from_ = source.from_.replace("{segments}", table.segments or "")
    body = _TableSql(table, source).select_list()
    return f"SELECT\n    {body}\nFROM {from_}\nWHERE {where}"


SCHEMA = amc_schema.load()
VIEWS: dict[str, str] = {name: view_sql(table) for name, table in SCHEMA.tables.items()}
TABLES = frozenset(VIEWS)
# Tables with a user_id column: the users the aggregation threshold counts.
USER_TABLES = frozenset(
    name for name, table in SCHEMA.tables.items() if "user_id" in table.column_names
)
# Each table's columns' aggregation threshold levels (`coverage.required_users`).
COLUMN_THRESHOLDS = {
    name: {c.name.lower(): c.threshold for c in table.columns}
    for name, table in SCHEMA.tables.items()
}
# What the engine loads for a table: the window's traffic, conversions (of the window's traffic),
# and the conversions of the 14 days' traffic before (tables cut by the conversion's time).
READS_TRAFFIC = frozenset(
    n for n, t in SCHEMA.tables.items() if "traffic" in ROW_SOURCES[t.rows].reads
)
READS_CONVERSIONS = frozenset(
    n for n, t in SCHEMA.tables.items() if "conversions" in ROW_SOURCES[t.rows].reads
)
READS_EARLIER_TRAFFIC = frozenset(
    n for n, t in SCHEMA.tables.items() if "earlier" in ROW_SOURCES[t.rows].reads
)
PAID: dict[str, str] = {n: t.paid for n, t in SCHEMA.tables.items() if t.paid is not None}
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
for _name, _table in SCHEMA.tables.items():
    for _column in _table.columns:
        if not _IDENTIFIER.match(_column.name):
            raise SchemaError(f"table {_name}: column name {_column.name!r} is not an identifier")


@cache
def columns(table: str) -> tuple[str, ...]:
    """The columns of one AMC table, in order."""
    return SCHEMA.tables[table].column_names


def not_subscribed(table: str) -> str:
    """AMC's words for a table of a paid feature the instance does not have."""
    feature = PAID[table]
    return (
        f"Table {table!r} does not exist for this instance: it is part of the paid feature "
        f"{feature!r} ({SCHEMA.paid_features[feature]}), which the instance is not subscribed to"
    )
