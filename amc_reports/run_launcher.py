"""A run launcher for single-host deployments whose run workers can be health-checked.

Dagster's `DefaultRunLauncher` starts each run worker as a process of the code server, but cannot
tell run monitoring that a worker died (OOM killer, `kill -9`): the run then stays STARTED forever,
holding its pool slot and its AMC week. This launcher is the same launcher plus a health check: the
worker's pid is the one Dagster records in the run's "Started process for run" engine event, and
the worker is healthy while that process exists (and is not a zombie). Run monitoring then marks a
dead worker's run failed, frees its slot, and run retries start a new run, which resumes the AMC
execution the dead run had submitted.

Only for deployments where the daemon runs on the same host as the code server (`make dev`, one
VM). Container launchers (Docker, Kubernetes) bring their own health checks.
"""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher

from amc_reports.dagster_private import CheckRunHealthResult, WorkerStatus
from amc_reports.local.process import is_alive

_STARTED_PROCESS = "Started process for run (pid: "


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the newest worker process Dagster recorded for the run, if any."""
    events = instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    for event in reversed(events):
        message = event.message or ""
        if message.startswith(_STARTED_PROCESS):
            try:
                return int(message[len(_STARTED_PROCESS) :].split(")", 1)[0])
            except ValueError:
                return None
    return None


class LocalProcessRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` with run-worker health checks (same host only)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        instance = self._instance
        pid = run_worker_pid(instance, run.run_id)
        if pid is None:
            # Launched but not yet started: run monitoring's start timeout covers this case.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded yet")
        record = instance.get_run_record_by_id(run.run_id)
        started = record.start_time if record else None
        # A pid recycled by a process started after the run is not our worker.
        if is_alive(pid, started_by=started):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run worker process {pid} is gone (killed or crashed)",
            run_worker_id=str(pid),
        )
