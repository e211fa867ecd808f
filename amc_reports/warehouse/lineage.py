"""Is a week traced to the AMC execution that produced it? The rules, once.

Both the asset checks (`amc_reports.quality`) and `amc-reports verify` (`warehouse.verify`) judge
lineage with `week_findings`; they differ only in how they fetch the facts (one week, or every week
of a report at once) and in how they present the findings.

A completed week is fully traced when its row has an `execution_id` and an `amc_execution_id`, the
execution_id resolves to a `workflow_executions` row of the same report and week that names the same
AMC execution and SUCCEEDED, every result row stored for the week carries that execution_id, there
are `record_count` of them, and (when asked) the partition's latest Dagster materialization names
the same two ids. Rows of an earlier execution kept in a week that is not completed (a re-collection
that failed) are a note, not a problem.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from amc_reports.warehouse.rows import ExecutionRow, ExecutionState, WeekRow


class Finding(StrEnum):
    """What can be wrong with a week's lineage."""

    NO_EXECUTION_ID = "no_execution_id"
    NO_AMC_EXECUTION_ID = "no_amc_execution_id"
    EXECUTION_NOT_FOUND = "execution_not_found"
    IDS_DISAGREE = "ids_disagree"
    EXECUTION_NOT_SUCCEEDED = "execution_not_succeeded"
    NO_MATERIALIZATION = "no_materialization"
    MATERIALIZATION_DISAGREES = "materialization_disagrees"
    FOREIGN_ROWS = "foreign_rows"
    COUNT_MISMATCH = "count_mismatch"
    STALE_ROWS = "stale_rows"  # a note: rows of an earlier execution in a week not completed


# Which findings each asset check reports.
ID_FINDINGS = frozenset(
    {
        Finding.NO_EXECUTION_ID,
        Finding.NO_AMC_EXECUTION_ID,
        Finding.EXECUTION_NOT_FOUND,
        Finding.IDS_DISAGREE,
        Finding.EXECUTION_NOT_SUCCEEDED,
        Finding.NO_MATERIALIZATION,
        Finding.MATERIALIZATION_DISAGREES,
    }
)
ROW_FINDINGS = frozenset({Finding.FOREIGN_ROWS, Finding.COUNT_MISMATCH})


@dataclass(frozen=True)
class WeekFinding:
    kind: Finding
    week: date
    instance: str
    detail: str
    rows: int = 0


MaterializationIds = Mapping[str, str | None]


def week_findings(
    week: WeekRow,
    execution: ExecutionRow | None,
    rows_by_execution: Mapping[uuid.UUID | None, int],
    *,
    materialization: MaterializationIds | None = None,
    check_materialization: bool = False,
) -> list[WeekFinding]:
    """Everything wrong with one week's lineage (an empty list: fully traced).

    `execution` is the row of `week.execution_id` (None when it has none or it does not exist);
    `rows_by_execution` the week's stored result rows per execution_id; `materialization` the ids
    of the partition's latest materialization (None: there is none), compared only when
    `check_materialization` is set.
    """
    found: list[WeekFinding] = []
    day = week.week_start_date

    def add(kind: Finding, detail: str, rows: int = 0) -> None:
        found.append(WeekFinding(kind, day, week.amc_instance, detail, rows))

    if not week.is_completed:
        for other, count in rows_by_execution.items():
            if count:
                add(
                    Finding.STALE_ROWS,
                    f"{week.status}; {count} rows of execution {other}",
                    count,
                )
        return found

    if week.execution_id is None:
        add(Finding.NO_EXECUTION_ID, "the week row has no execution_id")
    if not week.amc_execution_id:
        add(Finding.NO_AMC_EXECUTION_ID, "the week row has no amc_execution_id")
    if week.execution_id is not None and execution is None:
        add(
            Finding.EXECUTION_NOT_FOUND,
            f"execution_id {week.execution_id} has no workflow_executions row",
        )
    if execution is not None:
        disagreements = []
        if execution.amc_execution_id != week.amc_execution_id:
            disagreements.append(
                f"workflow_executions says amc_execution_id {execution.amc_execution_id}, "
                f"the week row says {week.amc_execution_id}"
            )
        if execution.key != week.key:
            disagreements.append(
                f"the execution is for {execution.report!r} on {execution.amc_instance} week "
                f"{execution.week_start_date}"
            )
        if disagreements:
            add(Finding.IDS_DISAGREE, "; ".join(disagreements))
        if execution.status is not ExecutionState.SUCCEEDED:
            add(
                Finding.EXECUTION_NOT_SUCCEEDED,
                f"the execution's status is {execution.status}, not SUCCEEDED",
            )
    if check_materialization:
        if materialization is None:
            add(Finding.NO_MATERIALIZATION, "the partition has no materialization")
        else:
            stored = {
                "execution_id": str(week.execution_id) if week.execution_id else None,
                "amc_execution_id": week.amc_execution_id,
            }
            for name, value in stored.items():
                if materialization.get(name) != value:
                    add(
                        Finding.MATERIALIZATION_DISAGREES,
                        f"the latest materialization says {name} {materialization.get(name)}, "
                        f"the week row says {value}",
                    )

    own = rows_by_execution.get(week.execution_id, 0) if week.execution_id else 0
    for other, count in rows_by_execution.items():
        if other != week.execution_id and count:
            add(
                Finding.FOREIGN_ROWS,
                f"rows of other executions remain: {count} rows of execution {other}",
                count,
            )
    expected = week.record_count or 0
    if own != expected:
        add(
            Finding.COUNT_MISMATCH,
            f"record_count says {week.record_count} but {own} rows are stored",
            own,
        )
    return found
