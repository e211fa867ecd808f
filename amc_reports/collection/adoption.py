"""Find an execution AMC created without naming it to us, so it is adopted rather than paid again.

A create answered without an execution id, or a connection cut after the request was sent, may
still have started an execution at AMC. Before anything is submitted again, the instance's
executions created since shortly before our request are listed and matched on what we asked for:
the time window and its time zone, the query (the SQL of an ad hoc query, or the saved workflow's
id) and the parameter values. An execution we already know (its id is on one of our rows) is
never adopted twice. `matching_executions` is pure; `find_untracked` asks AMC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from amc_reports.amc import AmcClient, ExecutionRecord

# AMC's clock and ours may differ, and our row is written just before the request is sent.
CLOCK_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Expected:
    """What we asked AMC to run."""

    time_window_start: str  # YYYY-MM-DDTHH:MM:SS, wall clock in time_zone
    time_window_end: str
    time_zone: str
    sql: str | None
    workflow_id: str | None
    parameters: Mapping[str, Any] = field(default_factory=dict)


def _window_time(value: str | None) -> str:
    """`2026-03-08T00:00:00`, `2026-03-08T00:00:00Z` and `...00.000Z` are the same bound."""
    return (value or "").strip().rstrip("Zz")[:19]


def _sql(value: str | None) -> str:
    return " ".join((value or "").split())


def _parameters(values: Mapping[str, Any] | None) -> str:
    """Parameter values compared as AMC may echo them (numbers and booleans as strings)."""
    return json.dumps({str(k): str(v) for k, v in (values or {}).items()}, sort_keys=True)


def _record_sql(record: ExecutionRecord) -> str | None:
    workflow = record.raw.get("workflow")
    if isinstance(workflow, Mapping) and isinstance(workflow.get("sqlQuery"), str):
        return workflow["sqlQuery"]
    sql = record.raw.get("sqlQuery")
    return sql if isinstance(sql, str) else None


def matches(record: ExecutionRecord, expected: Expected) -> bool:
    """Whether AMC's `record` is an execution of what we asked for."""
    if _window_time(record.time_window_start) != _window_time(expected.time_window_start):
        return False
    if _window_time(record.time_window_end) != _window_time(expected.time_window_end):
        return False
    if (record.time_window_time_zone or "") != expected.time_zone:
        return False
    if expected.workflow_id is not None:
        if record.workflow_id != expected.workflow_id:
            return False
    else:
        listed = _record_sql(record)
        # Without the SQL in AMC's answer we cannot tell our query from another report's.
        if listed is None or _sql(listed) != _sql(expected.sql):
            return False
    listed_parameters = record.raw.get("parameterValues")
    if listed_parameters is not None and not isinstance(listed_parameters, Mapping):
        return False
    return _parameters(listed_parameters) == _parameters(expected.parameters)


def matching_executions(
    records: Iterable[ExecutionRecord], expected: Expected, known: set[str]
) -> list[ExecutionRecord]:
    """The listed executions that match `expected` and are not `known` to us, newest first."""
    found = [
        record
        for record in records
        if record.execution_id and record.execution_id not in known and matches(record, expected)
    ]
    return sorted(
        found, key=lambda r: (r.create_time is not None, r.create_time or 0), reverse=True
    )


def find_untracked(
    amc: AmcClient,
    instance_id: str,
    expected: Expected,
    *,
    sent_after: datetime,
    known: Callable[[set[str]], set[str]],
) -> ExecutionRecord | None:
    """The newest execution of `expected` that AMC created after `sent_after` (less a margin)
    and that is not known to us (`known(ids) -> set of the ids already recorded`), if any."""
    records = list(
        amc.list_executions(
            instance_id,
            workflow_id=expected.workflow_id,
            min_creation_time=sent_after - CLOCK_MARGIN,
        )
    )
    ids = {record.execution_id for record in records if record.execution_id}
    found = matching_executions(records, expected, known(ids))
    return found[0] if found else None
