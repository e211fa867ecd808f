"""The synthetic advertiser behind each sandbox instance, and its ad events day by day.

Everything is deterministic: the same instance, day and volume always give the same events (seeds
come from hashes of them; numpy's PCG64 generator), whichever process asks and in whatever order.

An instance has one advertiser (brand) with a fixed set of campaigns: Amazon DSP campaigns and
sponsored ads campaigns (products, brands, display), each with line items (ad groups), creatives,
promoted ASINs and its own audience, click-through and conversion rates. A pool of users with
stable ids sees the ads; each campaign reaches a segment of the pool, heavy users more often than
light ones, so reach grows sub-linearly with impressions and frequency is above one.

A day's traffic is ``impressions_per_day`` impressions (more at weekends, more in the evening),
the clicks some of them get a minute later, and the conversions they cause: detail page views,
add-to-carts and purchases of the promoted (or, for brand halo, other) ASINs of the brand, from
seconds up to 14 days after the ad event, by the same user. Every conversion belongs to exactly
one traffic event (last touch), and arrives in AMC's data some hours after it happens: ``arrival``
is what the sandbox's ``data_as_of`` setting is compared with.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

DAY_SECONDS = 86400
MAX_LAG_SECONDS = 14 * DAY_SECONDS - 1  # AMC attributes conversions up to 14 days after the ad

IMPRESSION, CLICK = 0, 1
PURCHASE, DETAIL_PAGE_VIEW, ADD_TO_CART = 0, 1, 2
CONVERSION_SUBTYPES = ("order", "detailPageView", "shoppingCart")
CONVERSION_CATEGORIES = ("purchase", "website", "website")
CONVERSION_DESCRIPTIONS = (
    "Product purchased",
    "Product detail page viewed",
    "Add to Shopping Cart",
)

DSP = None
SPONSORED_PRODUCTS = "sponsored_products"
SPONSORED_BRANDS = "sponsored_brands"
SPONSORED_DISPLAY = "sponsored_display"

_BRANDS = ("Northwind", "Bluepeak", "Cedarline", "Brightwell", "Lumera", "Oakhurst", "Solvent")
_PRODUCTS = ("Kettle", "Blender", "Toaster", "Grinder", "Mixer", "Scale", "Steamer", "Juicer")

# name, ad product, impression share, CTR, view-through rates per impression and click-through
# rates per click of (purchase, detail page view, add to cart), cost of one impression (DSP,
# millicents) or of one click (sponsored ads, microcents).
_SP, _SB, _SD = SPONSORED_PRODUCTS, SPONSORED_BRANDS, SPONSORED_DISPLAY
# fmt: off
_CAMPAIGNS: tuple[tuple[str, str | None, float, float, tuple, tuple, float], ...] = (
    ("Prospecting - Lifestyle Audience", DSP, .20, .0020, (.003, .012, .004), (.06, .35, .10), 350),
    ("Retargeting - Product Viewers", DSP, .12, .0040, (.008, .030, .010), (.10, .45, .14), 700),
    ("Streaming TV - Awareness", DSP, .10, .0004, (.0015, .006, .002), (.03, .25, .06), 2400),
    ("Online Video - Consideration", DSP, .08, .0015, (.0025, .010, .003), (.05, .35, .10), 1200),
    ("SP - Brand Keywords", _SP, .12, .0120, (0, 0, 0), (.12, .60, .18), 9e7),
    ("SP - Generic Keywords", _SP, .16, .0060, (0, 0, 0), (.08, .50, .12), 1.4e8),
    ("SP - Auto Targeting", _SP, .08, .0050, (0, 0, 0), (.07, .45, .10), 1.1e8),
    ("SB - Headline Search", _SB, .06, .0045, (.0003, .002, .0005), (.09, .5, .12), 1.6e8),
    ("SD - Views Remarketing", _SD, .08, .0030, (.0004, .003, .001), (.07, .4, .1), 1.2e8),
)
# fmt: on
_DEVICES = (
    ("Phone", "iOS"),
    ("Phone", "Android"),
    ("PC", "Windows"),
    ("PC", "macOS"),
    ("TV", "Fire OS"),
    ("Tablet", "iPadOS"),
)
_DEVICE_SHARES = (0.30, 0.26, 0.20, 0.10, 0.08, 0.06)
_SEARCH_TERMS = (
    "electric kettle",
    "kettle stainless steel",
    "{brand} kettle",
    "blender for smoothies",
    "coffee grinder",
    "{brand}",
    "kitchen scale digital",
    "toaster 2 slice",
)
_MATCH_TYPES = ("EXACT", "PHRASE", "BROAD")
# Share of a day's impressions per hour (local time): low at night, a peak in the evening.
_HOURS = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1.2,
        2.5,
        3.5,
        4,
        4.2,
        4.5,
        5,
        4.8,
        4.6,
        4.6,
        4.8,
        5.2,
        6,
        6.8,
        7,
        6.2,
        4.5,
        2.5,
    ]
)
_WEEKDAY = (0.96, 0.94, 0.95, 0.97, 1.0, 1.08, 1.10)  # Monday .. Sunday


def seed_of(*parts: object) -> int:
    """A 64-bit seed from the given values (stable across processes and Python versions)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed_of(*parts)))


@dataclass(frozen=True)
class Campaign:
    index: int
    campaign_id: int
    name: str
    ad_product_type: str | None
    share: float
    ctr: float
    view_rates: tuple[float, float, float]
    click_rates: tuple[float, float, float]
    cost: float
    line_items: tuple[int, ...]  # indexes into World.line_items
    asins: tuple[int, ...]  # promoted ASINs (indexes into World.asins)
    audience_start: int  # first user of its audience segment (wrapping around the pool)
    audience_cdf: np.ndarray  # cumulative weights of the users of its segment

    @property
    def is_dsp(self) -> bool:
        return self.ad_product_type is None


@dataclass(frozen=True)
class LineItem:
    index: int
    line_item_id: int
    name: str
    campaign: int
    creatives: tuple[int, ...]


@dataclass(frozen=True)
class Creative:
    index: int
    creative_id: int
    name: str
    creative_type: str
    creative_size: str
    asin: int


@dataclass(frozen=True)
class World:
    """The fixed facts of one instance: its brand, campaigns, users and ASINs."""

    instance_id: str
    impressions_per_day: int
    brand: str
    advertiser_id: int
    campaigns: tuple[Campaign, ...]
    line_items: tuple[LineItem, ...]
    creatives: tuple[Creative, ...]
    asins: tuple[str, ...]
    asin_prices: np.ndarray  # unit price per ASIN (currency units, 2 decimals)
    brand_asins: tuple[int, ...]  # every ASIN of the brand (halo purchases pick among these)
    users: int
    user_new_to_brand: np.ndarray  # per user: has not bought the brand in the last 12 months
    search_terms: tuple[str, ...]

    @property
    def user_salt(self) -> str:
        """Salt of the pool's user ids (``md5(salt || index)``, opaque like AMC's)."""
        return f"{seed_of('users', self.instance_id):016x}:"


@functools.lru_cache(maxsize=16)
def world(instance_id: str, impressions_per_day: int) -> World:
    """The synthetic advertiser of ``instance_id`` (its user pool sized by the daily volume)."""
    rng = _rng("world", instance_id)
    brand = _BRANDS[seed_of("brand", instance_id) % len(_BRANDS)]
    users = max(2000, impressions_per_day)
    weights = rng.lognormal(0.0, 1.1, users)  # heavy and light users
    new_to_brand = rng.random(users) < 0.55

    asins: list[str] = []
    prices: list[float] = []
    for k in range(12):
        asins.append(
            "B0"
            + hashlib.blake2b(f"{instance_id}:asin:{k}".encode(), digest_size=4).hexdigest().upper()
        )
        prices.append(round(float(rng.uniform(9, 60)), 2))

    campaigns: list[Campaign] = []
    line_items: list[LineItem] = []
    creatives: list[Creative] = []
    base_id = 500_000_000_000 + seed_of("ids", instance_id) % 400_000_000_000
    for c, (name, product, share, ctr, view_rates, click_rates, cost) in enumerate(_CAMPAIGNS):
        jitter = float(rng.uniform(0.8, 1.25))
        promoted = tuple(int(a) for a in rng.choice(len(asins), size=3, replace=False))
        items = []
        for li in range(2 if product in (SPONSORED_BRANDS, SPONSORED_DISPLAY) else 3):
            li_index = len(line_items)
            creative_indexes = []
            for cr in range(2):
                kind = "video" if "Video" in name or "TV" in name else "static_image"
                creatives.append(
                    Creative(
                        index=len(creatives),
                        creative_id=base_id + 900_000 + len(creatives),
                        name=f"{brand}_{_PRODUCTS[(c + cr) % len(_PRODUCTS)]}_{kind}_{cr + 1}",
                        creative_type=kind,
                        creative_size="1920x1080" if kind == "video" else ("300x250", "728x90")[cr],
                        asin=promoted[cr % len(promoted)],
                    )
                )
                creative_indexes.append(len(creatives) - 1)
            label = "Ad Group" if product is not DSP else "Line Item"
            line_items.append(
                LineItem(
                    index=li_index,
                    line_item_id=base_id + 100_000 + li_index,
                    name=f"{brand} {name} - {label} {li + 1}",
                    campaign=c,
                    creatives=tuple(creative_indexes),
                )
            )
            items.append(li_index)
        segment = int(users * float(rng.uniform(0.15, 0.45)))
        start = int(rng.integers(0, users))
        seg_weights = np.take(weights, np.arange(start, start + segment) % users)
        cdf = np.cumsum(seg_weights)
        cdf /= cdf[-1]
        campaigns.append(
            Campaign(
                index=c,
                campaign_id=base_id + c * 1000,
                name=f"{brand} - {name}",
                ad_product_type=product,
                share=share * jitter,
                ctr=ctr * float(rng.uniform(0.85, 1.2)),
                view_rates=tuple(r * jitter for r in view_rates),
                click_rates=tuple(min(r * jitter, 0.9) for r in click_rates),
                cost=cost * float(rng.uniform(0.85, 1.2)),
                line_items=tuple(items),
                asins=promoted,
                audience_start=start,
                audience_cdf=cdf,
            )
        )
    total = sum(c.share for c in campaigns)
    campaigns = [Campaign(**{**c.__dict__, "share": c.share / total}) for c in campaigns]
    return World(
        instance_id=instance_id,
        impressions_per_day=impressions_per_day,
        brand=brand,
        advertiser_id=base_id + 7,
        campaigns=tuple(campaigns),
        line_items=tuple(line_items),
        creatives=tuple(creatives),
        asins=tuple(asins),
        asin_prices=np.array(prices),
        brand_asins=tuple(range(len(asins))),
        users=users,
        user_new_to_brand=new_to_brand,
        search_terms=tuple(t.format(brand=brand.lower()) for t in _SEARCH_TERMS),
    )


@dataclass(frozen=True)
class DayEvents:
    """One day of traffic (impressions and clicks) and the conversions it causes."""

    day: date
    # traffic, one entry per event (local time, seconds since 1970-01-01 00:00 of the local clock)
    ts: np.ndarray
    kind: np.ndarray  # IMPRESSION | CLICK
    campaign: np.ndarray
    line_item: np.ndarray
    creative: np.ndarray
    user: np.ndarray
    device: np.ndarray
    search_term: np.ndarray  # -1 where none (DSP)
    match_type: np.ndarray
    cost: np.ndarray  # millicents (DSP) or microcents (sponsored ads)
    viewable: np.ndarray  # bool
    # conversions, one entry per conversion; `traffic` indexes the traffic arrays above
    traffic: np.ndarray
    conversion_ts: np.ndarray
    arrival_ts: np.ndarray
    subtype: np.ndarray  # PURCHASE | DETAIL_PAGE_VIEW | ADD_TO_CART
    asin: np.ndarray
    units: np.ndarray
    sales_cents: np.ndarray
    halo: np.ndarray  # bool: a brand ASIN that the campaign does not promote

    @property
    def traffic_count(self) -> int:
        return len(self.ts)


def local_epoch(day: date) -> int:
    """Seconds of the local clock at the start of ``day`` (naive local time read as UTC)."""
    return int((datetime(day.year, day.month, day.day) - datetime(1970, 1, 1)).total_seconds())


@functools.lru_cache(maxsize=64)
def day_events(instance_id: str, impressions_per_day: int, day: date) -> DayEvents:
    """The events of one instance and day (cached: the same arrays for every query)."""
    w = world(instance_id, impressions_per_day)
    rng = _rng("day", instance_id, impressions_per_day, day.isoformat())
    start = local_epoch(day)
    total = int(impressions_per_day * _WEEKDAY[day.weekday()] * float(rng.normal(1.0, 0.03)))
    shares = np.array([c.share for c in w.campaigns])
    per_campaign = rng.multinomial(max(total, 0), shares / shares.sum())
    hour_cdf = np.cumsum(_HOURS) / _HOURS.sum()
    device_cdf = np.cumsum(_DEVICE_SHARES) / sum(_DEVICE_SHARES)

    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ts", "campaign", "line_item", "creative", "user", "cost", "term")
    }
    for c, count in zip(w.campaigns, per_campaign, strict=True):
        if count == 0:
            continue
        hours = np.searchsorted(hour_cdf, rng.random(count))
        parts["ts"].append(start + hours * 3600 + rng.integers(0, 3600, count))
        parts["campaign"].append(np.full(count, c.index, dtype=np.int32))
        li = np.array(c.line_items)[rng.integers(0, len(c.line_items), count)]
        parts["line_item"].append(li)
        creative_choice = rng.integers(0, 2, count)
        parts["creative"].append(
            np.array([w.line_items[i].creatives for i in c.line_items])[
                li - c.line_items[0], creative_choice
            ]
        )
        segment = np.searchsorted(c.audience_cdf, rng.random(count))
        parts["user"].append((c.audience_start + segment) % w.users)
        mean = c.cost if c.is_dsp else 0.0
        parts["cost"].append(np.round(rng.lognormal(0, 0.35, count) * mean).astype(np.int64))
        if c.ad_product_type in (SPONSORED_PRODUCTS, SPONSORED_BRANDS):
            parts["term"].append(rng.integers(0, len(w.search_terms), count))
        else:
            parts["term"].append(np.full(count, -1))
    impressions = {
        k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in parts.items()
    }
    n = len(impressions["ts"])
    campaign_ctr = np.array([c.ctr for c in w.campaigns])
    clicked = rng.random(n) < campaign_ctr[impressions["campaign"]]
    k = int(clicked.sum())
    click_cost_mean = np.array([c.cost if not c.is_dsp else c.cost * 60 for c in w.campaigns])
    clicks = {
        "ts": np.minimum(
            impressions["ts"][clicked] + rng.integers(2, 90, k), start + DAY_SECONDS - 1
        ),
        "campaign": impressions["campaign"][clicked],
        "line_item": impressions["line_item"][clicked],
        "creative": impressions["creative"][clicked],
        "user": impressions["user"][clicked],
        "cost": np.round(
            rng.lognormal(0, 0.4, k) * click_cost_mean[impressions["campaign"][clicked]]
        ).astype(np.int64),
        "term": impressions["term"][clicked],
    }
    device_of_user = np.searchsorted(device_cdf, _user_uniform(instance_id, w.users))
    traffic = {key: np.concatenate([impressions[key], clicks[key]]) for key in impressions}
    kind = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(k, dtype=np.int8)])
    total_traffic = len(kind)
    viewable = rng.random(total_traffic) < 0.72
    match_type = np.where(
        traffic["term"] >= 0, rng.integers(0, len(_MATCH_TYPES), total_traffic), -1
    )

    # Conversions: each traffic event may cause a purchase, a detail page view and an add to cart.
    view_rates = np.array([c.view_rates for c in w.campaigns])  # (campaigns, 3)
    click_rates = np.array([c.click_rates for c in w.campaigns])
    rates = np.where(
        (kind == CLICK)[:, None], click_rates[traffic["campaign"]], view_rates[traffic["campaign"]]
    )
    hits = rng.random((total_traffic, 3)) < rates
    source, subtype = np.nonzero(hits)
    m = len(source)
    quick = rng.random(m) < np.where(subtype == PURCHASE, 0.45, 0.75)
    lag = np.where(
        quick,
        rng.exponential(np.where(subtype == PURCHASE, 3 * 3600, 1200), m),
        rng.uniform(3600, MAX_LAG_SECONDS, m),
    )
    lag = np.clip(lag.astype(np.int64), 5, MAX_LAG_SECONDS)
    conversion_ts = traffic["ts"][source] + lag
    arrival_ts = conversion_ts + 2 * 3600 + rng.integers(0, 22 * 3600, m)  # processing delay
    halo = (subtype == PURCHASE) & (rng.random(m) < 0.2)
    promoted = np.array([w.campaigns[i].asins for i in range(len(w.campaigns))])
    asin = np.where(
        halo,
        rng.integers(0, len(w.asins), m),
        promoted[traffic["campaign"][source], rng.integers(0, 3, m)],
    )
    units = np.where(subtype == PURCHASE, 1 + rng.poisson(0.35, m), 0)
    sales_cents = np.round(units * w.asin_prices[asin] * 100).astype(np.int64)
    return DayEvents(
        day=day,
        ts=traffic["ts"].astype(np.int64),
        kind=kind,
        campaign=traffic["campaign"].astype(np.int32),
        line_item=traffic["line_item"].astype(np.int32),
        creative=traffic["creative"].astype(np.int32),
        user=traffic["user"].astype(np.int32),
        device=device_of_user[traffic["user"]].astype(np.int8),
        search_term=traffic["term"].astype(np.int32),
        match_type=match_type.astype(np.int8),
        cost=traffic["cost"].astype(np.int64),
        viewable=viewable,
        traffic=source.astype(np.int64),
        conversion_ts=conversion_ts.astype(np.int64),
        arrival_ts=arrival_ts.astype(np.int64),
        subtype=subtype.astype(np.int8),
        asin=asin.astype(np.int32),
        units=units.astype(np.int32),
        sales_cents=sales_cents,
        halo=halo,
    )


def _user_uniform(instance_id: str, users: int) -> np.ndarray:
    """A stable uniform number per user (its device)."""
    return _rng("devices", instance_id).random(users)


def days_between(start: datetime, end: datetime) -> list[date]:
    """The local days that [start, end) touches."""
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


DEVICES = _DEVICES
MATCH_TYPES = _MATCH_TYPES
