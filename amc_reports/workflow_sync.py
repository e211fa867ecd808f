"""Workflows as code: each report's SQL as an AMC saved workflow on each of its instances.

`amc-reports sync-workflows` compares three things per (report, instance):

- the workflow the report defines (`WorkflowSpec`: id `amc_reports_<report>`, the report's SQL,
  its parameters declared as input parameters) and its fingerprint;
- the workflow in AMC now (`GET .../workflows/<id>`) and the fingerprint of AMC's own text;
- what the last sync recorded (`workflow_syncs`: both fingerprints).

and then creates the workflow (missing in AMC), updates it (the report's SQL or parameters
changed since the last sync), records it (`adopted`: AMC already holds the report's SQL), leaves
it (`unchanged`), or reports **drift**: AMC's workflow changed since the last sync (someone
edited it in AMC), or exists with other SQL and was never synced from here. A drifted workflow
is not overwritten unless asked (`force`). Reports that run a saved workflow (`workflow_id:`)
are managed in AMC and skipped. Dagster-free: takes clients and the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, timedelta
from enum import StrEnum
from typing import Any

from amc_reports.amc import AmcApiError, AmcClient, AmcError
from amc_reports.config import InstanceConfig, ReportConfig, ReportTarget, resolve_parameters
from amc_reports.warehouse.workflow_syncs import SyncAction, WorkflowSyncRow, WorkflowSyncs

log = logging.getLogger(__name__)

WORKFLOW_ID_PREFIX = "amc_reports_"
DEFAULT_THREADS = 8


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    ADOPTED = "adopted"
    UNCHANGED = "unchanged"
    DRIFTED = "drifted"
    SKIPPED = "skipped"
    FAILED = "failed"


# What a dry run says instead of the outcome it would have.
WOULD = {
    Outcome.CREATED: "would create",
    Outcome.UPDATED: "would update",
    Outcome.ADOPTED: "would adopt",
}


def workflow_id_for(report: ReportConfig) -> str:
    """The saved workflow a report is kept as, on each of its instances."""
    return f"{WORKFLOW_ID_PREFIX}{report.name}"


def _data_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, list):
        return "ARRAY"
    return "STRING"


def fingerprint(sql: str, input_parameters: Iterable[Mapping[str, Any]]) -> str:
    """A hash of a workflow's SQL (line endings and outer whitespace aside) and parameters."""
    text = "\n".join(line.rstrip() for line in sql.replace("\r\n", "\n").strip().splitlines())
    params = sorted(
        (
            {"name": str(p.get("name")), "dataType": str(p.get("dataType"))}
            for p in input_parameters
        ),
        key=lambda p: p["name"],
    )
    payload = json.dumps({"sql": text, "inputParameters": params}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def remote_fingerprint(doc: Mapping[str, Any]) -> str:
    """The fingerprint of a workflow as AMC returns it."""
    params = doc.get("inputParameters") or []
    return fingerprint(
        str(doc.get("sqlQuery") or ""), [p for p in params if isinstance(p, Mapping)]
    )


@dataclass(frozen=True)
class WorkflowSpec:
    """The saved workflow a report defines on one instance."""

    report: ReportConfig
    instance: InstanceConfig
    workflow_id: str
    sql: str
    input_parameters: tuple[dict[str, str], ...]

    @classmethod
    def of(cls, report: ReportConfig, instance: InstanceConfig) -> WorkflowSpec:
        """Parameters are declared with the type of their value for this instance (a templated
        value is typed as resolved for the report's first week)."""
        first = report.start_date
        values = resolve_parameters(report, instance, first, first + timedelta(days=6))
        declared = tuple(
            {"name": name, "dataType": _data_type(value)} for name, value in values.items()
        )
        return cls(report, instance, workflow_id_for(report), report.sql or "", declared)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sql, self.input_parameters)

    @property
    def target(self) -> str:
        return f"amc/{self.instance.alias}/{self.report.name}"


@dataclass(frozen=True)
class SyncResult:
    target: str
    workflow_id: str
    amc_instance_id: str
    outcome: Outcome
    detail: str = ""
    dry_run: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.outcome in (Outcome.DRIFTED, Outcome.FAILED)

    @property
    def outcome_text(self) -> str:
        """The outcome, or what a dry run would have done ("would create")."""
        return WOULD.get(self.outcome, self.outcome.value) if self.dry_run else self.outcome.value

    def describe(self) -> str:
        head = (
            f"{self.target}: workflow {self.workflow_id} on {self.amc_instance_id}: "
            f"{self.outcome_text}"
        )
        return f"{head} ({self.detail})" if self.detail else head


class WorkflowSync:
    """Sync the saved workflows of some targets; `client_for(instance)` gives an instance's
    client (shared token per credential profile), `syncs` the records in the warehouse."""

    def __init__(
        self,
        client_for: Callable[[InstanceConfig], AmcClient],
        syncs: WorkflowSyncs,
        *,
        dry_run: bool = False,
        force: bool = False,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.client_for = client_for
        self.syncs = syncs
        self.dry_run = dry_run
        self.force = force
        self.threads = max(1, threads)

    def run(self, targets: Iterable[ReportTarget]) -> list[SyncResult]:
        """One result per target, in the targets' order."""
        targets = list(targets)
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(lambda t: self.sync_one(t.report, t.instance), targets))

    def sync_one(self, report: ReportConfig, instance: InstanceConfig) -> SyncResult:
        if not report.sql:
            return SyncResult(
                f"amc/{instance.alias}/{report.name}",
                report.workflow_id or "",
                instance.instance_id,
                Outcome.SKIPPED,
                "runs a saved workflow managed in AMC",
                self.dry_run,
            )
        spec = WorkflowSpec.of(report, instance)
        try:
            with self.client_for(instance) as client:
                return self._sync(spec, client)
        except AmcError as exc:
            return self._result(spec, Outcome.FAILED, str(exc))

    def _sync(self, spec: WorkflowSpec, client: AmcClient) -> SyncResult:
        instance_id = spec.instance.instance_id
        remote = _get_workflow(client, instance_id, spec.workflow_id)
        record = self.syncs.get(instance_id, spec.workflow_id)
        if remote is None:
            detail = "deleted in AMC since the last sync" if record else ""
            return self._write(spec, client, SyncAction.CREATED, detail)
        remote_fp = remote_fingerprint(remote)
        if remote_fp == spec.fingerprint and (
            record is None or remote_fp != record.remote_fingerprint
        ):
            # AMC holds the report's workflow already (never recorded, or edited back to it).
            return self._adopt(spec, remote, remote_fp)
        if record is None:
            return self._drifted(
                spec, client, "exists in AMC with other SQL or parameters, never synced from here"
            )
        if remote_fp != record.remote_fingerprint:
            return self._drifted(spec, client, _edited_since(record))
        if record.local_fingerprint == spec.fingerprint:
            return self._result(spec, Outcome.UNCHANGED)
        return self._write(
            spec, client, SyncAction.UPDATED, "the report's SQL or parameters changed"
        )

    def _drifted(self, spec: WorkflowSpec, client: AmcClient, why: str) -> SyncResult:
        if self.force:
            return self._write(spec, client, SyncAction.UPDATED, f"overwrote drift: {why}")
        return self._result(
            spec, Outcome.DRIFTED, f"{why}; not overwritten (--force overwrites it)"
        )

    def _adopt(self, spec: WorkflowSpec, remote: Mapping[str, Any], remote_fp: str) -> SyncResult:
        if not self.dry_run:
            self._record(spec, SyncAction.ADOPTED, remote_fp, remote)
        return self._result(spec, Outcome.ADOPTED, "AMC already holds the report's SQL")

    def _write(
        self, spec: WorkflowSpec, client: AmcClient, action: SyncAction, detail: str
    ) -> SyncResult:
        outcome = Outcome.CREATED if action is SyncAction.CREATED else Outcome.UPDATED
        if self.dry_run:
            return self._result(spec, outcome, detail)
        instance_id = spec.instance.instance_id
        params = [dict(p) for p in spec.input_parameters]
        if action is SyncAction.CREATED:
            client.create_workflow(instance_id, spec.workflow_id, spec.sql, input_parameters=params)
        else:
            client.update_workflow(instance_id, spec.workflow_id, spec.sql, input_parameters=params)
        # What AMC holds now, in its own words: the reference for drift from here on.
        saved = _get_workflow(client, instance_id, spec.workflow_id) or {}
        self._record(spec, action, remote_fingerprint(saved), saved)
        log.info("%s workflow %s on %s", action.value, spec.workflow_id, instance_id)
        return self._result(spec, outcome, detail)

    def _record(
        self,
        spec: WorkflowSpec,
        action: SyncAction,
        remote_fp: str,
        remote: Mapping[str, Any],
    ) -> None:
        updated = remote.get("updateTime") or remote.get("lastUpdatedTime")
        self.syncs.record(
            amc_instance_id=spec.instance.instance_id,
            workflow_id=spec.workflow_id,
            report=spec.report.name,
            amc_instance=spec.instance.alias,
            local_fingerprint=spec.fingerprint,
            remote_fingerprint=remote_fp,
            action=action,
            remote_updated=str(updated) if updated else None,
        )

    def _result(self, spec: WorkflowSpec, outcome: Outcome, detail: str = "") -> SyncResult:
        return SyncResult(
            spec.target, spec.workflow_id, spec.instance.instance_id, outcome, detail, self.dry_run
        )


def _get_workflow(client: AmcClient, instance_id: str, workflow_id: str) -> dict | None:
    try:
        return client.get_workflow(instance_id, workflow_id)
    except AmcApiError as exc:
        if exc.status_code == 404:
            return None
        raise


def _edited_since(record: WorkflowSyncRow) -> str:
    when = record.synced_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"edited in AMC since the last sync ({record.action.value} {when})"
