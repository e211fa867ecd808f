"""What a re-collection changed: the restatement of a week. The load's transaction records what it
knows without reading a table (the row counts before and after; for a result byte for byte the
one stored, `same_result`: that no row changed); the sums of the measures and the rows compared
by key are done right after it commits (`versions.WeekVersions.complete_restatement`), so that
neither lengthens the load. Until then the record is incomplete (`incomplete`: its `sums` None, its
`rows_added` None); a reader that needs it whole completes it from the versions' tables
(`versions.restatement_of`).

Compared with the version it replaces: the row count before and after, each measure's sum before
and after, and, by the report's key columns, the rows added, removed and changed. A key that
appears or disappears is a row added or removed; the tolerance judges the measures' sums only.

- Key columns: configured per report (`key_columns`), else the non-numeric columns and the
  numeric ones named like ids.
- Measures (what is summed): configured per report (`measures`), else the numeric columns that
  are not key columns, not named like ids and not named like ratios (a ratio's sum means nothing;
  recompute it from its parts). Names are read by their `_`-separated words, case-insensitively:
  an id has a word in ID_WORDS (`id`, `campaign_id`, `ad_group_ids`); a ratio has a word in
  RATIO_WORDS (`ctr`, `roas`, `purchase_rate`, `avg_cpc`, `cost_per_click`, `ntb_share`) or
  says `return_on_` (`return_on_ad_spend`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from amc_reports.warehouse.inference import NUMERIC_TYPES

ID_WORDS = frozenset({"id", "ids", "uuid", "key"})
RATIO_WORDS = frozenset(
    {
        "rate", "ratio", "ctr", "cpc", "cpm", "cpa", "roas", "acos", "share", "pct", "percent",
        "percentage", "avg", "average", "mean", "per",
    }
)  # fmt: skip


def _words(name: str) -> set[str]:
    return set(name.lower().split("_"))


def is_id(name: str) -> bool:
    """Named like an id (`id`, `campaign_id`, `ad_group_ids`): a key, never summed."""
    return bool(_words(name) & ID_WORDS)


def is_ratio(name: str) -> bool:
    """Named like a ratio (`ctr`, `roas`, `purchase_rate`, `avg_cpc`, `return_on_ad_spend`):
    never summed."""
    return bool(_words(name) & RATIO_WORDS) or "return_on_" in name.lower()


@dataclass(frozen=True)
class Measured:
    """A version's row count and the sums of its measures."""

    rows: int
    sums: dict[str, float | int | None]


def default_key_columns(columns: Sequence[tuple[str, str]]) -> list[str]:
    """The non-numeric columns and the numeric ones named like ids (see the module docstring)."""
    return [name for name, kind in columns if kind not in NUMERIC_TYPES or is_id(name)]


def measure_columns(
    columns: Sequence[tuple[str, str]],
    keys: Sequence[str],
    configured: Sequence[str] | None = None,
) -> list[str]:
    """The columns whose sums are compared: the configured measures, else the numeric columns
    that are neither keys, ids nor ratios. MissingMeasures when a configured one is not among
    `columns` (the result's), or is not numeric."""
    kinds = dict(columns)
    if configured:
        wrong = [name for name in configured if kinds.get(name) not in NUMERIC_TYPES]
        if wrong:
            described = ", ".join(f"{name} ({kinds.get(name, 'missing')})" for name in wrong)
            raise MissingMeasures(
                f"the report's `measures` name columns its result does not have as numbers: "
                f"{described} (its columns: {', '.join(kinds) or 'none'}); fix `measures` in "
                "the report's configuration"
            )
        return list(configured)
    skip = set(keys)
    return [
        name
        for name, kind in columns
        if kind in NUMERIC_TYPES and name not in skip and not is_id(name) and not is_ratio(name)
    ]


class MissingMeasures(ValueError):
    """A report names measures its result does not have (the message says which)."""


def key_columns_for(
    columns: Sequence[tuple[str, str]], configured: Sequence[str] | None
) -> list[str]:
    """The configured key columns that the result has, else the default ones."""
    if configured:
        present = {name for name, _ in columns}
        return [name for name in configured if name in present]
    return default_key_columns(columns)


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# Below this many rows a table's sums are read without parallel workers: starting them costs
# more than they save (100k rows: 12 ms alone, 14 ms with two workers; 1M: 150 ms, 100 ms).
PARALLEL_SUM_ROWS = 500_000


def measure(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: str,
    numeric: Sequence[str],
    *,
    rows: int | None = None,
) -> Measured:
    """Row count and sums of `numeric` columns of a table (one scan). `rows`: its row count when
    known (a table with fewer than `PARALLEL_SUM_ROWS` is read by one process)."""
    selects = [sql.SQL("count(*)")] + [
        sql.SQL("sum({})").format(sql.Identifier(name)) for name in numeric
    ]
    serial = rows is not None and rows < PARALLEL_SUM_ROWS
    if serial:
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    row = cur.execute(
        sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(selects), sql.Identifier(schema, table)
        )
    ).fetchone()
    if serial:
        cur.execute("RESET max_parallel_workers_per_gather")
    assert row is not None
    return Measured(
        rows=int(row[0]), sums={name: _number(v) for name, v in zip(numeric, row[1:], strict=True)}
    )


@dataclass(frozen=True)
class KeyDiff:
    added: int
    removed: int
    changed: int
    seconds: float

    NONE: ClassVar[KeyDiff]  # nothing changed (known without comparing)


KeyDiff.NONE = KeyDiff(0, 0, 0, 0.0)


def read_as(
    schema: str, table: str, have: Mapping[str, str], want: Sequence[tuple[str, str]]
) -> sql.Composable:
    """`schema.table` (columns `have`: name -> type) read as a table of the columns `want` (name,
    type), the way the DDL that evolves the results table would give it them: a column it lacks
    reads NULL, one of another type is cast. An earlier version compared with a week that brings
    new columns or wider types, before the results table itself is changed."""
    table_id = sql.Identifier(schema, table)
    if all(have.get(name) == kind for name, kind in want):
        return table_id
    selects = [
        sql.SQL("{}::{} AS {}").format(
            sql.Identifier(name) if name in have else sql.NULL, sql.SQL(kind), sql.Identifier(name)
        )
        for name, kind in want
    ]
    return sql.SQL("(SELECT {} FROM {}) AS {}").format(
        sql.SQL(", ").join(selects), table_id, sql.Identifier("amc_reports_conformed")
    )


def key_diff(
    cur: psycopg.Cursor[Any],
    old: tuple[str, str] | sql.Composable,
    new: tuple[str, str],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: tuple[int, int],
) -> KeyDiff:
    """Rows added, removed and changed between two versions of `rows` (old, new) rows, matched
    by `keys`.

    One parallel hash full join on the key columns (a row whose key has a NULL is matched with
    the other side's as a multiset instead, by EXCEPT ALL). When a key is not unique in a
    version, the join cannot pair rows one to one: the whole comparison is then done as
    multisets (slower, and still exact)."""
    started = time.perf_counter()
    measures = [name for name in columns if name not in keys]
    old_table = sql.Identifier(*old) if isinstance(old, tuple) else old
    new_table = sql.Identifier(*new)
    key_list = sql.SQL(", ").join(map(sql.Identifier, keys))
    all_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    complete = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(sql.Identifier(k)) for k in keys
    )
    # The join spends most of a re-collection's extra time: give it memory and both cores.
    cur.execute(
        "SELECT set_config('work_mem', '256MB', true),"
        " set_config('parallel_setup_cost', '0', true),"
        " set_config('parallel_tuple_cost', '0', true)"
    )
    side = sql.Identifier("amc_reports_side")

    def side_rows(table: sql.Identifier) -> sql.Composable:
        return sql.SQL("SELECT {}, true AS {} FROM {} WHERE {}").format(
            all_list, side, table, complete
        )

    differs = (
        sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("o.{}").format(sql.Identifier(m)) for m in measures),
            sql.SQL(", ").join(sql.SQL("n.{}").format(sql.Identifier(m)) for m in measures),
        )
        if measures
        else sql.SQL("false")
    )
    joined = cur.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE o.{side} IS NULL),"
            " count(*) FILTER (WHERE n.{side} IS NULL),"
            " count(*) FILTER (WHERE o.{side} AND n.{side} AND {differs}),"
            " count(*) FILTER (WHERE o.{side}), count(*) FILTER (WHERE n.{side})"
            " FROM ({old}) o FULL JOIN ({new}) n USING ({keys})"
        ).format(
            side=side,
            differs=differs,
            old=side_rows(old_table),
            new=side_rows(new_table),
            keys=key_list,
        )
    ).fetchone()
    assert joined is not None
    added, removed, changed, joined_old, joined_new = (int(v) for v in joined)
    if (joined_old, joined_new) != (rows[0], rows[1]):
        # Every row took part in the join once unless a key has a NULL or repeats: count those.
        complete_rows = cur.execute(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {} WHERE {}), (SELECT count(*) FROM {} WHERE {})"
            ).format(old_table, complete, new_table, complete)
        ).fetchone()
        assert complete_rows is not None
        if (joined_old, joined_new) != tuple(int(v) for v in complete_rows):
            # A key repeats in a version: compare everything as multisets.
            added, removed, changed = _multiset_diff(cur, old_table, new_table, key_list, all_list)
        else:
            incomplete = sql.SQL("NOT ({})").format(complete)
            extra = _multiset_diff(cur, old_table, new_table, key_list, all_list, where=incomplete)
            added, removed, changed = added + extra[0], removed + extra[1], changed + extra[2]
    for setting in ("work_mem", "parallel_setup_cost", "parallel_tuple_cost"):
        cur.execute(sql.SQL("RESET {}").format(sql.Identifier(setting)))
    return KeyDiff(added, removed, changed, seconds=time.perf_counter() - started)


def _multiset_diff(
    cur: psycopg.Cursor[Any],
    old: sql.Composable,
    new: sql.Composable,
    keys: sql.Composable,
    columns: sql.Composable,
    *,
    where: sql.Composable = sql.SQL("true"),
) -> tuple[int, int, int]:
    """(added, removed, changed) of the rows matching `where`, keys and rows as multisets."""
    query = sql.SQL(
        "SELECT"
        " (SELECT count(*) FROM (SELECT {keys} FROM {new} WHERE {where}"
        "  EXCEPT ALL SELECT {keys} FROM {old} WHERE {where}) a),"
        " (SELECT count(*) FROM (SELECT {keys} FROM {old} WHERE {where}"
        "  EXCEPT ALL SELECT {keys} FROM {new} WHERE {where}) r),"
        " (SELECT count(*) FROM (SELECT {all} FROM {new} WHERE {where}"
        "  EXCEPT ALL SELECT {all} FROM {old} WHERE {where}) d)"
    ).format(keys=keys, all=columns, old=old, new=new, where=where)
    row = cur.execute(query).fetchone()
    assert row is not None
    added, removed, differing = (int(v) for v in row)
    return added, removed, max(differing - added, 0)


def summarize(
    *,
    previous_execution_id: str,
    previous_provisional: bool,
    before: Measured,
    after: Measured,
    diff: KeyDiff | None,
    keys: Sequence[str],
) -> dict[str, Any]:
    """The restatement of two measured versions (JSON)."""
    return {
        **pending(
            previous_execution_id=previous_execution_id,
            previous_provisional=previous_provisional,
            rows=(before.rows, after.rows),
            keys=keys,
            measures=sorted(set(before.sums) | set(after.sums)),
        ),
        **row_changes(diff),
        **sum_changes(before.sums, after.sums),
    }


def pending(
    *,
    previous_execution_id: str,
    previous_provisional: bool,
    rows: tuple[int | None, int],
    keys: Sequence[str],
    measures: Sequence[str],
) -> dict[str, Any]:
    """The restatement as the load's transaction records it: what it knows without reading a
    table; the sums (`sum_changes`) and the rows compared (`row_changes`) follow its commit.
    `rows`: before (None: not known yet, counted with the sums) and after."""
    return {
        "previous_execution_id": previous_execution_id,
        "previous_provisional": previous_provisional,
        "rows_before": rows[0],
        "rows_after": rows[1],
        "row_count_relative_change": relative_change(*rows),
        "key_columns": list(keys),
        "measures": sorted(measures),
        **row_changes(None),
        "sums": None,
        "largest_sum_change": None,
    }


def sum_changes(
    before: Mapping[str, float | int | None], after: Mapping[str, float | int | None]
) -> dict[str, Any]:
    """The part of a restatement that compares the measures' sums."""
    sums: dict[str, dict[str, Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        sums[name] = {"before": old, "after": new, "relative_change": relative_change(old, new)}
    largest = largest_sum_change({"sums": sums, "measures": list(sums)})
    return {"sums": sums, "largest_sum_change": largest}


def sums_pending(restatement: Mapping[str, Any]) -> bool:
    """The measures' sums are not compared yet (the load compares them after it committed)."""
    return "sums" in restatement and restatement["sums"] is None


def rows_pending(restatement: Mapping[str, Any]) -> bool:
    """The rows are to be compared by key and are not yet."""
    return bool(restatement.get("key_columns")) and restatement.get("rows_added") is None


def incomplete(restatement: Mapping[str, Any]) -> bool:
    """Something the load does after its commit is not done (or failed)."""
    return sums_pending(restatement) or rows_pending(restatement)


def row_changes(diff: KeyDiff | None) -> dict[str, Any]:
    """The part of a restatement that compares rows by key (None: not compared, or not yet:
    a load compares them after it committed)."""
    return {
        "rows_added": diff.added if diff else None,
        "rows_removed": diff.removed if diff else None,
        "rows_changed": diff.changed if diff else None,
        "key_diff_seconds": round(diff.seconds, 4) if diff else None,
    }


def relative_change(before: float | int | None, after: float | int | None) -> float | None:
    """(after - before) / |before|; None when not comparable (a side missing, or 0 -> non-0)."""
    if before is None or after is None:
        return None if before != after else 0.0
    if before == 0:
        return 0.0 if after == 0 else None
    return (after - before) / abs(before)


def judged_sums(restatement: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The sums of a stored restatement that are measures. One stored before measures were
    recorded (it summed every numeric column) is read by the default rule: its ids and ratios
    are left out."""
    sums: dict[str, dict[str, Any]] = dict(restatement.get("sums") or {})
    if "measures" in restatement:
        return {name: sums[name] for name in restatement["measures"] if name in sums}
    return measure_sums(sums, restatement.get("key_columns") or ())


def measure_sums(
    sums: Mapping[str, Any], keys: Sequence[str] = (), configured: Sequence[str] | None = None
) -> dict[str, Any]:
    """The stored sums that are measures: the configured ones, else those the default rule
    calls measures (a version stored before measures were told apart also summed ids and
    ratios)."""
    if configured:
        return {name: sums[name] for name in configured if name in sums}
    skip = set(keys)
    return {
        name: value
        for name, value in sums.items()
        if name not in skip and not is_id(name) and not is_ratio(name)
    }


def largest_sum_change(restatement: Mapping[str, Any]) -> dict[str, Any] | None:
    """The measure whose sum moved most (by a finite relative change): column and change."""
    if sums_pending(restatement):
        return None
    largest = max(
        (
            (name, abs(values["relative_change"]))
            for name, values in judged_sums(restatement).items()
            if values.get("relative_change") is not None
        ),
        key=lambda item: item[1],
        default=None,
    )
    return {"column": largest[0], "relative_change": largest[1]} if largest else None


def largest_change(restatement: Mapping[str, Any]) -> float:
    """The largest relative change of a measure's sum (infinite when one appeared from zero or
    disappeared). Rows added or removed are not judged themselves, only through the measures;
    a report without measures is judged by its row count. The sums must have been compared
    (`sums_pending`)."""
    if sums_pending(restatement):
        raise ValueError("the restatement's sums are not compared yet")
    changes: list[float] = []
    sums = judged_sums(restatement)
    if not sums:
        row_change = restatement.get("row_count_relative_change")
        rows_before, rows_after = restatement.get("rows_before"), restatement.get("rows_after")
        if row_change is None and rows_before != rows_after:
            changes.append(math.inf)
        elif row_change is not None:
            changes.append(abs(row_change))
    for values in sums.values():
        change = values.get("relative_change")
        if change is None and values.get("before") != values.get("after"):
            changes.append(math.inf)
        elif change is not None:
            changes.append(abs(change))
    return max(changes, default=0.0)


def data_columns(columns: Iterable[tuple[str, str]], lineage: Iterable[str]) -> list[str]:
    skip = set(lineage)
    return [name for name, _ in columns if name not in skip]
