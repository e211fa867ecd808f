"""`amc-reports code-server`: Dagster's gRPC code server, with run workers forked preloaded.

Dagster's code server (`dagster api grpc`) starts each run worker with multiprocessing's `spawn`: a
new interpreter that imports Dagster (and re-runs the `dagster` command as `__mp_main__`), then
Dagster's Postgres storage, then the code location, before it runs anything. On 2 cores that is
most of a one-week run's CPU (BENCHMARKS.md). This command runs the same server with the same
arguments, except that run workers are forked by a multiprocessing *forkserver* that has imported
those modules (and built the code location's definitions) once: a run worker starts with
everything loaded and does only its run.

What stays the same: each run is still its own process (own pid, own failure, killed alone), a
child of this server's forkserver with this server's environment and working directory; run
monitoring, termination and the single-host launcher's health checks work as before. The
forkserver lives and dies with the server, so a reload of the code location (a new server) never
leaves workers running stale code. What the preload must not do, and does not: open connections
or start threads (the definitions are built without touching Postgres or AMC).

Only for deployments whose runs are processes of the code server (`make dev`'s launcher, one VM);
container launchers (Docker, Kubernetes) start a container per run and do not use it.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Sequence

from amc_reports.dagster_private import RUN_WORKER_MODULES, run_dagster_cli, start_run_workers_with

_log = logging.getLogger(__name__)

# Imported once by the forkserver: Dagster with what a run worker needs of it, and the storage
# and client libraries every run of this project uses.
PRELOAD_LIBRARIES = (
    "dagster",
    *RUN_WORKER_MODULES,
    # What a worker's instance imports when it opens (measured: bench/backfill.py
    # --profile-workers); modules that are not installed are skipped.
    "dagster_postgres",
    "psycopg2.extras",
    "upath",
    "fsspec",
    # What a collection imports.
    "psycopg",
    "requests",
)
# The forkserver imports this module last; it imports the code location named in LOCATION_VAR.
PRELOAD_LOCATION_MODULE = "amc_reports.code_server_preload"
LOCATION_VAR = "AMC_REPORTS_PRELOAD_LOCATION"


def location_module(argv: Sequence[str]) -> str | None:
    """The module a `dagster api grpc` command line loads (`-m`/`--module-name`), if any."""
    for index, arg in enumerate(argv):
        if arg in ("-m", "--module-name") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--module-name="):
            return arg.split("=", 1)[1]
    return None


def use_forked_run_workers(module: str | None) -> None:
    """Make Dagster's code servers in this process fork their run workers from a preloaded
    forkserver (which also imports `module`, the code location, when given)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD_LIBRARIES, PRELOAD_LOCATION_MODULE])
    if module:
        os.environ[LOCATION_VAR] = module
    # Start it once the server has loaded the definitions (so it sees the same sys.path), so
    # that the first run does not pay for the preload.
    start_run_workers_with(context, on_start=multiprocessing.forkserver.ensure_running)


def main(argv: Sequence[str]) -> int:
    """Run `dagster api grpc ARGV...` with forked run workers."""
    use_forked_run_workers(location_module(argv))
    return run_dagster_cli(["api", "grpc", *argv])


def preload_location() -> None:
    """In the forkserver: import the code location and build its repository, or leave it to
    each run worker (which then reports the error the way Dagster does) if that fails."""
    module = os.environ.get(LOCATION_VAR)
    if not module:
        return
    try:
        loaded = importlib.import_module(module)
        definitions = getattr(loaded, "defs", None)
        if definitions is not None and hasattr(definitions, "get_repository_def"):
            definitions.get_repository_def()
    except Exception as exc:  # the run worker imports it again and fails visibly
        _log.warning("run workers: preloading %s failed (%s); each run loads it", module, exc)
