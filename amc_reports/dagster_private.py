"""What this project takes from Dagster's private modules (`dagster._...`): the only module that
imports them. Dagster promises nothing about these names; `unit_tests/test_dagster_private.py`
asserts that each one, and the behaviour relied on, is still there (checked against Dagster
1.13.27), so an upgrade that changes one fails that test instead of a deployment.

- The run-worker health check of `run_launcher.LocalProcessRunLauncher`: the types
  `RunLauncher.check_run_worker_health` returns (`CheckRunHealthResult`, `WorkerStatus`), which the
  `dagster` package does not export.
- The forked code server (`code_server`): Dagster's code server (`DagsterApiServer`) sets
  `self._mp_ctx = multiprocessing.get_context("spawn")` in its `__init__` and starts each run
  worker as `self._mp_ctx.Process(target=start_run_in_subprocess, ...)` (`StartRun`);
  `start_run_workers_with` swaps that context. `RUN_WORKER_MODULES` are the private modules a run
  worker imports (the forkserver preloads them), and `run_dagster_cli` is the `dagster` command.
- `PartitionKeyFilter`: the partition filter of the event log's
  `get_asset_check_execution_history` (a week's earlier check results, `orchestration/checks.py`).
"""

from __future__ import annotations

import functools
import multiprocessing.context
import sys
from collections.abc import Callable, Sequence

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.event_log.base import PartitionKeyFilter

__all__ = [
    "RUN_WORKER_MODULES",
    "CheckRunHealthResult",
    "DagsterChangedError",
    "PartitionKeyFilter",
    "WorkerStatus",
    "run_dagster_cli",
    "start_run_workers_with",
]

# What a run worker imports of Dagster's private modules besides `dagster`: the run itself, and
# what its instance imports when it opens (measured: bench/backfill.py --profile-workers).
RUN_WORKER_MODULES = (
    "dagster._grpc.impl",
    "dagster._core.execution.api",
    "dagster._core.secrets.env_file",
    "dagster._core.storage.local_compute_log_manager",
)
# The attribute of `DagsterApiServer` holding the multiprocessing context of its run workers.
_SERVER_CONTEXT = "_mp_ctx"


class DagsterChangedError(RuntimeError):
    """This Dagster no longer works the way this module relies on."""


def start_run_workers_with(
    context: multiprocessing.context.BaseContext, on_start: Callable[[], None]
) -> None:
    """Make every Dagster code server created from now on in this process start its run workers
    with `context` instead of `spawn`, calling `on_start` once it is set up (its definitions
    loaded). Raises `DagsterChangedError` when a server does not hold a spawn context where this
    Dagster's did."""
    from dagster._grpc.server import DagsterApiServer

    original_init = DagsterApiServer.__init__
    if getattr(original_init, "amc_reports_context", None) is context:
        return

    @functools.wraps(original_init)
    def init(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        current = getattr(self, _SERVER_CONTEXT, None)
        if not isinstance(current, multiprocessing.context.BaseContext) or (
            current.get_start_method() != "spawn"
        ):
            raise DagsterChangedError(
                "this Dagster's code server does not start run workers with a multiprocessing "
                "'spawn' context any more; run `dagster api grpc` instead of "
                "`amc-reports code-server`"
            )
        setattr(self, _SERVER_CONTEXT, context)
        on_start()

    init.amc_reports_context = context  # type: ignore[attr-defined]
    DagsterApiServer.__init__ = init  # type: ignore[method-assign]


def run_dagster_cli(argv: Sequence[str]) -> int:
    """Run the `dagster` command with `argv` in this process; its exit code."""
    from dagster._cli import main as dagster_main

    sys.argv = ["dagster", *argv]
    try:
        dagster_main()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
