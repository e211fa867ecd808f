"""Deterministic synthetic results: CSV whose columns come from the query's outer SELECT.

The same (instance, SQL, window) always gives the same bytes, whatever the number of parts (the
parts joined, minus their repeated headers, are the single-part file). Values are plausible for
their column names: dates inside the window, ids, counts, money, rates, flags, labels.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from amc_reports.amc_sql import AmcSqlError, parse_query

DEFAULT_COLUMNS = [
    "event_date",
    "campaign_id",
    "campaign",
    "impressions",
    "clicks",
    "total_cost",
    "purchases",
    "total_sales",
]

_CHUNK_ROWS = 1000  # rows generated from one seed: parts can be produced independently

# -- SQL: the outer SELECT list --------------------------------------------------------------------


def select_columns(sql: str) -> list[str]:
    """Output column names of the outer SELECT (aliases or bare column names), read by
    `amc_sql.parse_query`.

    ``*`` and a query that does not parse give :data:`DEFAULT_COLUMNS`; an unnamed expression gets
    ``_col<n>`` like engines name anonymous columns.
    """
    try:
        tree = parse_query(sql)
    except AmcSqlError:
        return list(DEFAULT_COLUMNS)
    columns: list[str] = []
    for n, item in enumerate(tree.selects):
        if item.is_star:
            columns.extend(c for c in DEFAULT_COLUMNS if c not in columns)
            continue
        columns.append(item.output_name or f"_col{n}")
    return columns or list(DEFAULT_COLUMNS)


# -- values ---------------------------------------------------------------------------------------

_WORDS = [
    "Alpha",
    "Bravo",
    "Cedar",
    "Delta",
    "Ember",
    "Fjord",
    "Garnet",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meadow",
    "Nimbus",
    "Onyx",
    "Prairie",
]
_DEVICES = ["Desktop", "Mobile", "Tablet", "TV", "Other"]


_TEXT_SUFFIXES = (
    "name",
    "_type",
    "_label",
    "_title",
    "_status",
    "_code",
    "_category",
    "brand",
    "country",
    "region",
    "_group",
    "_channel",
    "_source",
    "_format",
)


def _kind(column: str) -> str:
    """The kind of value a column holds, guessed from its name."""
    n = column.lower()
    if n.startswith(("is_", "has_")) or n.endswith("_flag") or n in ("filtered", "flag"):
        return "bool"
    if n == "asin" or n.endswith(("_asin", "asin_id")):
        return "asin"
    if n == "id" or n.endswith(("_id", "_ids")):
        return "id"
    if n.endswith(_TEXT_SUFFIXES):
        return "device" if "device" in n else "text"
    if n in ("time", "hour", "timestamp") or n.endswith(
        ("_at", "_time", "_ts", "timestamp", "datetime", "_hour")
    ):
        return "datetime"
    if (
        "date" in n
        or n in ("day", "week", "month")
        or n.endswith(("_day", "_week", "_month", "_dt"))
    ):
        return "date"
    if any(
        k in n
        for k in (
            "rate",
            "ratio",
            "ctr",
            "cvr",
            "roas",
            "share",
            "pct",
            "percent",
            "avg",
            "average",
            "per_",
            "frequency",
            "acos",
        )
    ):
        return "float"
    if any(
        k in n
        for k in (
            "cost",
            "spend",
            "sales",
            "revenue",
            "amount",
            "price",
            "budget",
            "fee",
            "value",
            "_usd",
            "money",
            "margin",
            "profit",
        )
    ):
        return "money"
    if "impression" in n:
        return "impressions"
    if any(k in n for k in ("click", "view", "visit", "session", "detail_page", "dpv")):
        return "small_count"
    if any(k in n for k in ("user", "reach", "household", "audience", "customer")):
        return "users"
    if any(
        k in n
        for k in (
            "purchase",
            "conversion",
            "order",
            "unit",
            "sold",
            "add_to_cart",
            "atc",
            "subscribe",
            "lead",
            "signup",
        )
    ):
        return "tiny_count"
    if any(
        k in n for k in ("count", "cnt", "num_", "number", "total", "qty", "quantity", "events")
    ) or n.startswith("n_"):
        return "count"
    if "device" in n:
        return "device"
    return "text"


class _Gen:
    """Row generator: one value function per column, with pools precomputed for speed."""

    def __init__(self, columns: list[str], window_start: str, window_end: str, id_pool: int):
        self.columns = columns
        self.kinds = [_kind(c) for c in columns]
        start = datetime.strptime(window_start[:19], "%Y-%m-%dT%H:%M:%S")
        end = datetime.strptime(window_end[:19], "%Y-%m-%dT%H:%M:%S")
        if end <= start:
            end = start + timedelta(seconds=1)
        self.start = start
        self.span_seconds = max(1, int((end - start).total_seconds()) - 1)
        last_day = (end - timedelta(microseconds=1)).date()
        first_day: date = start.date()
        days = max(1, (last_day - first_day).days + 1)
        self.day_pool = [(first_day + timedelta(days=d)).isoformat() for d in range(days)]
        self.id_pool = max(3, id_pool)
        self.funcs = [self._func(c, k) for c, k in zip(columns, self.kinds, strict=True)]
        self.cap_index = self.kinds.index("impressions") if "impressions" in self.kinds else None
        capped_kinds = ("small_count", "tiny_count", "users")
        self.capped = [i for i, k in enumerate(self.kinds) if k in capped_kinds]

    def row(self, rng: random.Random) -> list[str]:
        out = [f(rng) for f in self.funcs]
        if self.cap_index is not None:
            # Keep rows coherent: no more clicks, purchases or users than impressions.
            cap = int(out[self.cap_index])
            for i in self.capped:
                if int(out[i]) > cap:
                    out[i] = str(cap)
        return out

    def _func(self, column: str, kind: str):
        pool_size = self.id_pool
        if kind == "date":
            days = self.day_pool
            return lambda rng: days[int(rng.random() * len(days))]
        if kind == "datetime":
            start, span = self.start, self.span_seconds

            def moment(rng: random.Random) -> str:
                when = start + timedelta(seconds=int(rng.random() * span))
                return when.strftime("%Y-%m-%d %H:%M:%S")

            return moment
        if kind in ("id", "asin"):
            ids = []
            for k in range(pool_size):
                digest = hashlib.blake2b(f"{column}:{k}".encode(), digest_size=8).digest()
                if kind == "id":
                    ids.append(str(10**14 + int.from_bytes(digest[:6], "big") % (9 * 10**14)))
                else:
                    ids.append("B0" + digest.hex().upper()[:8])
            return lambda rng: ids[int(rng.random() * len(ids))]
        if kind == "bool":
            return lambda rng: "true" if rng.random() < 0.1 else "false"
        lognormal = {
            "impressions": (8, 1.5, 1),
            "small_count": (4, 1.3, 0),
            "users": (7, 1.4, 1),
            "tiny_count": (1.5, 1.2, 0),
            "count": (5, 1.5, 0),
        }
        if kind in lognormal:
            mu, sigma, floor = lognormal[kind]
            return lambda rng: str(int(math.exp(mu + sigma * rng.gauss())) + floor)
        if kind == "money":
            return lambda rng: f"{math.exp(4 + 1.4 * rng.gauss()):.2f}"
        if kind == "float":
            scale = 5 if "roas" in column.lower() else 1
            return lambda rng: f"{rng.random() * scale:.4f}"
        if kind == "device":
            return lambda rng: _DEVICES[int(rng.random() * len(_DEVICES))]
        base = re.sub(r"_?name$", "", column, flags=re.IGNORECASE) or column
        label = base.replace("_", " ").strip().title() or "Value"
        labels = [f"{label} {w} {n}" for n in range(1, 1 + pool_size) for w in _WORDS[:4]]
        return lambda rng: labels[int(rng.random() * len(labels))]


@dataclass(frozen=True)
class ResultSpec:
    instance_id: str
    sql: str
    window_start: str
    window_end: str
    rows: int
    parts: int = 1
    csv_fault: str | None = None

    @property
    def seed(self) -> bytes:
        ident = "\x1f".join([self.instance_id, self.sql, self.window_start, self.window_end])
        return hashlib.sha256(ident.encode("utf-8")).digest()

    def part_rows(self, part: int) -> tuple[int, int]:
        """[first, last) data row indexes of a part (rows spread evenly over the parts)."""
        parts = max(1, self.parts)
        base, extra = divmod(self.rows, parts)
        first = part * base + min(part, extra)
        return first, first + base + (1 if part < extra else 0)


def _row_chunk(spec: ResultSpec, gen: _Gen, chunk: int) -> list[list[str]]:
    rng = random.Random(spec.seed + chunk.to_bytes(8, "big"))
    first = chunk * _CHUNK_ROWS
    count = min(_CHUNK_ROWS, spec.rows - first)
    return [gen.row(rng) for _ in range(count)]


def iter_part(spec: ResultSpec, part: int) -> Iterator[bytes]:
    """The bytes of one part (header line first), in chunks."""
    columns = select_columns(spec.sql)
    gen = _Gen(columns, spec.window_start, spec.window_end, id_pool=max(5, spec.rows // 8))
    first, last = spec.part_rows(part)

    def rows() -> Iterator[list[str]]:
        row = first
        while row < last:
            chunk = row // _CHUNK_ROWS
            offset = row - chunk * _CHUNK_ROWS
            take = _row_chunk(spec, gen, chunk)[offset : offset + (last - row)]
            yield from take
            row += len(take)

    malformed_at = (last - first) // 2 if spec.csv_fault == "malformed" and part == 0 else None
    return csv_chunks(columns, rows(), malformed_at=malformed_at)


def csv_chunks(
    columns: list[str], rows: Iterable[list[str]], *, malformed_at: int | None = None
) -> Iterator[bytes]:
    """A CSV file (header, then ``rows``) in chunks; row ``malformed_at`` gets broken quoting."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for i, values in enumerate(rows):
        if i == malformed_at:
            buf.write('"unterminated quote,' + ",".join(list(values[1:]) + ["extra"]) + "\n")
        else:
            writer.writerow(values)
        if buf.tell() > 1 << 16:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    data = buf.getvalue().encode("utf-8")
    if data:
        yield data


def write_part(spec: ResultSpec, part: int, path) -> int:
    """Write one part to ``path`` (applying the ``truncated`` and ``empty`` faults); return its
    size."""
    return write_chunks(
        iter_part(spec, part),
        path,
        truncate=spec.csv_fault == "truncated" and part == max(1, spec.parts) - 1,
        empty=spec.csv_fault == "empty",
    )


def write_chunks(
    chunks: Iterable[bytes], path, *, truncate: bool = False, empty: bool = False
) -> int:
    """Write ``chunks`` to ``path``; ``truncate`` cuts the last line short (a partial row and no
    trailing newline), ``empty`` writes nothing at all (not even the header). Returns the size
    written."""
    with open(path, "wb") as fh:
        for chunk in chunks:
            if empty:
                break
            fh.write(chunk)
        size = fh.tell()
    if truncate and size > 0:
        with open(path, "rb+") as fh:
            tail_len = min(size, 1 << 16)
            fh.seek(size - tail_len)
            tail = fh.read().rstrip(b"\n")
            cut = tail.rfind(b"\n")
            keep_in_tail = cut + 1 + max(1, (len(tail) - cut - 1) // 2)
            size = size - tail_len + keep_in_tail
            fh.truncate(size)
    return size


def render_part(spec: ResultSpec, part: int) -> bytes:
    """One part in memory (no ``truncated`` fault; see :func:`write_part`)."""
    return b"".join(iter_part(spec, part))
