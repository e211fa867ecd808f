"""How a sensor follows the runs that ended: Dagster's own run-status cursors
(`DagsterInstance.fetch_run_status_changes`, public API), one per kind of ending, kept together
in the sensor's cursor; and what an ended run recorded.

Why not `run_status_sensor` / `run_failure_sensor` (read in Dagster 1.13.27,
`_core/definitions/run_status_sensor_definition.py`): such a sensor follows one run status; it
calls its function once per run, at most 5 runs a tick (`DAGSTER_RUN_STATUS_SENSOR_PROCESS_LIMIT`),
and ends the tick at the first run for which the function returns anything (a run request, a
skip reason), so a sensor that requests check runs would handle one ended run per tick; and it
owns its cursor (a `SensorResult` with a cursor is an error), leaving the notifications no place
for what they already sent. The weekly checks follow three endings and request runs for every
run of a backfill in one tick; the notifications remember what they sent. Both therefore keep
the same cursors `run_status_sensor` keeps (`fetch_run_status_changes`, oldest first, started at
the newest ending when the sensor first ticks), here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg


@dataclass
class EndedRuns:
    """Where a sensor stands in each kind of run ending it follows (its event log cursors)."""

    endings: tuple[dg.DagsterEventType, ...]
    positions: dict[str, str | None]

    @classmethod
    def from_now(
        cls, instance: dg.DagsterInstance, endings: Sequence[dg.DagsterEventType]
    ) -> EndedRuns:
        """At the newest ending of each kind now: a sensor's first cursor, so that it follows the
        runs that end from now on, never the history."""
        return cls(
            tuple(endings),
            {e.value: instance.fetch_run_status_changes(e, limit=1).cursor for e in endings},
        )

    @classmethod
    def from_json(cls, data: object, endings: Sequence[dg.DagsterEventType]) -> EndedRuns | None:
        """The positions `to_json` wrote, or None for anything else (the sensor starts anew)."""
        if not isinstance(data, Mapping) or not all(e.value in data for e in endings):
            return None
        positions = {e.value: data[e.value] for e in endings}
        if not all(p is None or isinstance(p, str) for p in positions.values()):
            return None
        return cls(tuple(endings), positions)

    def to_json(self) -> dict[str, str | None]:
        return dict(self.positions)

    def since(
        self, instance: dg.DagsterInstance, limit: int
    ) -> list[tuple[str, dg.DagsterEventType]]:
        """The runs that ended since these positions (which move on), each with how it ended:
        oldest first, one kind of ending after the other in the order of `endings`; at most
        `limit` of each kind (the rest at the next tick)."""
        ended = []
        for ending in self.endings:
            changes = instance.fetch_run_status_changes(
                ending, limit=limit, cursor=self.positions.get(ending.value), ascending=True
            )
            self.positions[ending.value] = changes.cursor
            ended += [(record.event_log_entry.run_id, ending) for record in changes.records]
        return ended


def check_evaluations_of_run(
    instance: dg.DagsterInstance, run_id: str
) -> list[dg.AssetCheckEvaluation]:
    """The asset check results a run recorded."""
    return [
        entry.dagster_event.asset_check_evaluation_data
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        if entry.dagster_event is not None
    ]
