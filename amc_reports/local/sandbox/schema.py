"""AMC's tables and columns as data: `amc_schema.yaml`, read and checked once.

The file names every table and column the sandbox serves, with AMC's type, what it holds, how the
sandbox fills it (its *role*, see the file's header) and which tables are paid features. This
module only reads it into `Table` / `Column` values and says what is wrong with it, naming the
table and column; `tables` turns the tables into DuckDB views.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_FILE = Path(__file__).with_name("amc_schema.yaml")

# AMC's types and the DuckDB type the sandbox gives each.
DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "LONG": "BIGINT",
    "INTEGER": "INTEGER",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "DECIMAL(38, 4)",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "ARRAY<STRING>": "VARCHAR[]",
    "ARRAY<LONG>": "BIGINT[]",
}


_TABLE_KEYS = frozenset({"rows", "like", "only", "segments", "paid", "docs", "columns"})


# AMC's aggregation threshold of a column (its documentation's last column; "-": not given).
THRESHOLDS = ("NONE", "LOW", "MEDIUM", "HIGH", "VERY_HIGH", "INTERNAL", "-")


class SchemaError(ValueError):
    """`amc_schema.yaml` says something the sandbox cannot serve (the message names where)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # AMC's type (a key of DUCKDB_TYPES)
    role: str  # how the sandbox fills it ("" : the row source's fact of that name, or neutral)
    about: str
    threshold: str = "-"  # AMC's aggregation threshold of the column (THRESHOLDS)

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class Segment:
    family: str
    segment_id: int
    name: str
    category_level_1: str
    category_level_2: str
    per_mille: int  # share of users in the segment


@dataclass(frozen=True)
class Table:
    name: str
    rows: str  # the row source (tables.ROW_SOURCES)
    columns: tuple[Column, ...]
    docs: str = ""  # its page in AMC's documentation
    only: str | None = None  # a filter of the row source
    paid: str | None = None  # the paid feature it needs
    segments: str | None = None  # audience tables: the segment family

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Schema:
    documentation: dict[str, Any]
    paid_features: dict[str, str]  # feature -> what it is
    segments: tuple[Segment, ...]
    tables: dict[str, Table]


def _column(where: str, name: str, spec: Any) -> Column:
    if not isinstance(spec, list) or len(spec) not in (3, 4):
        raise SchemaError(
            f"{where}: column {name!r} must be [TYPE, THRESHOLD, description] or "
            f"[TYPE, THRESHOLD, role, description], not {spec!r}"
        )
    kind, threshold = str(spec[0]), str(spec[1])
    if kind not in DUCKDB_TYPES:
        known = ", ".join(DUCKDB_TYPES)
        raise SchemaError(f"{where}: column {name!r} has type {kind!r} (known: {known})")
    if threshold not in THRESHOLDS:
        known = ", ".join(THRESHOLDS)
        raise SchemaError(f"{where}: column {name!r} has threshold {threshold!r} (known: {known})")
    role = "" if len(spec) == 3 else ("null" if spec[2] is None else str(spec[2]))
    return Column(name, kind, role, str(spec[-1]), threshold)


def _columns(where: str, specs: Any) -> list[Column]:
    if not isinstance(specs, dict):
        raise SchemaError(f"{where}: columns must be a mapping of column name to its spec")
    return [_column(where, str(name), spec) for name, spec in specs.items()]


def parse(doc: Any) -> Schema:
    """The schema of a parsed `amc_schema.yaml`; raises `SchemaError` naming what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        raise SchemaError("the schema file needs a 'tables' mapping")
    features = {str(k): str(v) for k, v in (doc.get("paid_features") or {}).items()}
    segments = tuple(
        Segment(str(family), int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))
        for family, rows in (doc.get("segments") or {}).items()
        for row in rows
    )
    tables: dict[str, Table] = {}
    for name, spec in doc["tables"].items():
        where = f"table {name}"
        unknown = set(spec) - _TABLE_KEYS
        if unknown:
            raise SchemaError(
                f"{where}: unknown keys {sorted(unknown)} (known: {sorted(_TABLE_KEYS)})"
            )
        columns: dict[str, Column] = {}
        like = spec.get("like")
        if like is not None:
            if like not in tables:
                raise SchemaError(f"{where}: like {like!r}, a table not defined before it")
            columns.update((c.name, c) for c in tables[like].columns)
        own = _columns(where, spec.get("columns") or {})
        columns.update((c.name, c) for c in own)
        paid = spec.get("paid")
        if paid is not None and paid not in features:
            raise SchemaError(f"{where}: unknown paid feature {paid!r}")
        family = spec.get("segments")
        if family is not None and not any(s.family == family for s in segments):
            raise SchemaError(f"{where}: unknown segment family {family!r}")
        if "rows" not in spec:
            raise SchemaError(f"{where}: says nothing of its rows ('rows:')")
        tables[str(name)] = Table(
            name=str(name),
            rows=str(spec["rows"]),
            columns=tuple(columns.values()),
            docs=str(spec.get("docs", "")),
            only=spec.get("only"),
            paid=paid,
            segments=family,
        )
    return Schema(dict(doc.get("documentation") or {}), features, segments, tables)


@cache
def load(path: Path = SCHEMA_FILE) -> Schema:
    """The schema file, parsed and checked (once per process)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 5x faster when present
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.load(fh, Loader=loader))  # noqa: S506 - a safe loader
