"""`workflow_syncs`: the AMC saved workflows `amc-reports sync-workflows` last wrote (migration
0004). One row per (AMC instance id, workflow id): what was sent, and what AMC held right after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg
from psycopg.rows import dict_row


class SyncAction(StrEnum):
    CREATED = "created"  # the workflow did not exist in AMC: created from the report
    UPDATED = "updated"  # replaced in AMC with the report's SQL
    ADOPTED = "adopted"  # already in AMC with the report's SQL: recorded, nothing written


@dataclass(frozen=True)
class WorkflowSyncRow:
    amc_instance_id: str
    workflow_id: str
    report: str
    amc_instance: str
    local_fingerprint: str
    remote_fingerprint: str
    action: SyncAction
    remote_updated: str | None
    synced_at: datetime


_COLUMNS = (
    "amc_instance_id, workflow_id, report, amc_instance, local_fingerprint, remote_fingerprint, "
    "action, remote_updated, synced_at"
)


class WorkflowSyncs:
    """Reads and writes `workflow_syncs` through `connect` (a `Warehouse.connect`)."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect

    def get(self, amc_instance_id: str, workflow_id: str) -> WorkflowSyncRow | None:
        with self._connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM workflow_syncs "
                "WHERE amc_instance_id = %s AND workflow_id = %s",
                (amc_instance_id, workflow_id),
            )
            row = cur.fetchone()
        return _row(row) if row else None

    def list(self, report: str | None = None) -> list[WorkflowSyncRow]:
        where, params = ("WHERE report = %s", (report,)) if report else ("", ())
        with self._connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM workflow_syncs {where} "
                "ORDER BY report, amc_instance, workflow_id",
                params,
            )
            return [_row(r) for r in cur.fetchall()]

    def record(
        self,
        *,
        amc_instance_id: str,
        workflow_id: str,
        report: str,
        amc_instance: str,
        local_fingerprint: str,
        remote_fingerprint: str,
        action: SyncAction,
        remote_updated: str | None,
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO workflow_syncs (amc_instance_id, workflow_id, report, amc_instance, "
                "local_fingerprint, remote_fingerprint, action, remote_updated) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (amc_instance_id, workflow_id) DO UPDATE SET "
                "report = EXCLUDED.report, amc_instance = EXCLUDED.amc_instance, "
                "local_fingerprint = EXCLUDED.local_fingerprint, "
                "remote_fingerprint = EXCLUDED.remote_fingerprint, action = EXCLUDED.action, "
                "remote_updated = EXCLUDED.remote_updated, synced_at = clock_timestamp()",
                (
                    amc_instance_id,
                    workflow_id,
                    report,
                    amc_instance,
                    local_fingerprint,
                    remote_fingerprint,
                    action.value,
                    remote_updated,
                ),
            )


def _row(row: dict) -> WorkflowSyncRow:
    return WorkflowSyncRow(**{**row, "action": SyncAction(row["action"])})
