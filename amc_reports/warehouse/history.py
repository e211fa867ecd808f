"""The versions of a week (its current rows and those kept in history), and what changed between
two of them: what `amc-reports history` shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from amc_reports.warehouse import restatement, results
from amc_reports.warehouse.rows import ExecutionRow, VersionRow, VersionState
from amc_reports.warehouse.store import Warehouse


@dataclass(frozen=True)
class WeekVersion:
    """One stored version of a week and the execution that produced it."""

    version: VersionRow
    execution: ExecutionRow | None

    @property
    def label(self) -> str:
        return "provisional" if self.version.provisional else "final"


class HistoryError(ValueError):
    """A version that does not exist or cannot be compared (the message says which)."""


def week_versions(
    warehouse: Warehouse, report: str, week: date, instance: str | None = None
) -> list[WeekVersion]:
    """Every stored version of the week, oldest first."""
    versions = warehouse.list_versions(report, week, instance)
    instances = {v.amc_instance for v in versions}
    if instance is None and len(instances) > 1:
        listed = ", ".join(sorted(instances))
        raise HistoryError(
            f"report {report!r} has week {week} on several instances ({listed}): name one with "
            "--instance"
        )
    executions = warehouse.get_executions(v.execution_id for v in versions)
    return [WeekVersion(v, executions.get(v.execution_id)) for v in versions]


def find_version(versions: Sequence[WeekVersion], wanted: str) -> WeekVersion:
    """The version whose execution_id (ours or AMC's) is or starts with `wanted`."""
    matches = [
        v
        for v in versions
        if str(v.version.execution_id).startswith(wanted)
        or (v.execution and v.execution.amc_execution_id or "").startswith(wanted)
    ]
    if len(matches) != 1:
        known = ", ".join(str(v.version.execution_id)[:8] for v in versions) or "none"
        what = "no version" if not matches else f"{len(matches)} versions"
        raise HistoryError(f"{what} of this week match {wanted!r} (its versions: {known})")
    return matches[0]


def compare(
    warehouse: Warehouse,
    old: WeekVersion,
    new: WeekVersion,
    key_columns: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What changed from `old` to `new`: row counts, measures' sums, rows added/removed/changed.

    When `new` replaced `old`, this is the restatement recorded when `new` was loaded (the one
    record that `history` lists and the `restatement_within_tolerance` check judges). Any other
    two versions are compared now, from their stored tables."""
    recorded = new.version.restatement
    if recorded and recorded.get("previous_execution_id") == str(old.version.execution_id):
        return {**recorded, "recorded": True}
    for side in (old, new):
        if side.version.state is VersionState.DROPPED:
            raise HistoryError(
                f"version {side.version.execution_id} was removed by the history retention"
            )
    with warehouse.connect() as conn, conn.cursor() as cur:
        shapes = [
            results.read_shape(conn, v.version.table_schema, v.version.table_name)
            for v in (old, new)
        ]
        for side, shape in zip((old, new), shapes, strict=True):
            if not shape.exists:
                raise HistoryError(
                    f"the table of version {side.version.execution_id} "
                    f"({side.version.table_schema}.{side.version.table_name}) is missing"
                )
        common = [c for c in shapes[1].data_columns() if c in shapes[0].data_columns()]
        keys = restatement.key_columns_for(common, key_columns)
        try:
            summed = restatement.measure_columns(common, keys, measures)
        except restatement.MissingMeasures as exc:
            raise HistoryError(f"these two versions cannot be compared: {exc}") from None
        measured = [
            restatement.measure(cur, v.version.table_schema, v.version.table_name, summed)
            for v in (old, new)
        ]
        diff = (
            restatement.key_diff(
                cur,
                (old.version.table_schema, old.version.table_name),
                (new.version.table_schema, new.version.table_name),
                keys,
                [name for name, _ in common],
                (measured[0].rows, measured[1].rows),
            )
            if keys
            else None
        )
        conn.rollback()
    changes = restatement.summarize(
        previous_execution_id=str(old.version.execution_id),
        previous_provisional=old.version.provisional,
        before=measured[0],
        after=measured[1],
        diff=diff,
        keys=keys,
    )
    return {**changes, "recorded": False}
