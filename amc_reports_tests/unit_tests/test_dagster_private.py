"""What `amc_reports.dagster_private` relies on in Dagster's private modules is still there.

A Dagster upgrade that renames, moves or changes one of these fails here, with the name of what
changed, instead of in a deployment (a code server whose run workers silently stop forking, a
launcher whose health checks break). Checked against Dagster 1.13.27.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import multiprocessing
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from amc_reports import dagster_private
from amc_reports.paths import PROJECT_ROOT

# `import dagster._x`, `from dagster._x import y`, also indented (inside a function).
PRIVATE_IMPORT = re.compile(r"^\s*(?:import|from)\s+dagster\._")


def test_no_module_but_the_adapter_imports_dagster_private_modules():
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number} {line.strip()}"
        for path in sorted((PROJECT_ROOT / "amc_reports").rglob("*.py"))
        if path.name != "dagster_private.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if PRIVATE_IMPORT.match(line)
    ]
    assert offenders == []


def test_the_run_worker_health_types_are_what_run_launchers_return():
    result = dagster_private.CheckRunHealthResult(
        dagster_private.WorkerStatus.FAILED, "gone", run_worker_id="42"
    )
    assert (result.status, result.msg, result.run_worker_id) == (
        dagster_private.WorkerStatus.FAILED,
        "gone",
        "42",
    )
    assert {"RUNNING", "FAILED"} <= {status.name for status in dagster_private.WorkerStatus}
    launcher = dg.DefaultRunLauncher
    supports = inspect.getattr_static(launcher, "supports_check_run_worker_health")
    assert isinstance(supports, property)
    assert list(inspect.signature(launcher.check_run_worker_health).parameters) == ["self", "run"]


def test_the_modules_a_run_worker_imports_exist():
    for name in dagster_private.RUN_WORKER_MODULES:
        importlib.import_module(name)
    impl = importlib.import_module("dagster._grpc.impl")
    assert callable(impl.start_run_in_subprocess)


def test_the_code_server_starts_run_workers_from_the_context_it_holds():
    from dagster._grpc.server import DagsterApiServer

    init = inspect.getsource(DagsterApiServer.__init__)
    assert 'self._mp_ctx = multiprocessing.get_context("spawn")' in init
    start_run = inspect.getsource(DagsterApiServer.StartRun)
    assert "self._mp_ctx.Process(" in start_run
    assert "target=start_run_in_subprocess" in start_run


def test_a_code_server_created_after_the_swap_holds_the_new_context(monkeypatch):
    from dagster._grpc.server import DagsterApiServer

    # The swap patches the class: undone after the test.
    monkeypatch.setattr(DagsterApiServer, "__init__", DagsterApiServer.__init__)
    started = []
    context = multiprocessing.get_context("fork")
    dagster_private.start_run_workers_with(context, on_start=lambda: started.append(True))
    with ThreadPoolExecutor(max_workers=1) as pool:
        server = DagsterApiServer(threading.Event(), logging.getLogger("test"), pool)
        try:
            assert server._mp_ctx is context
            assert started == [True]
        finally:
            server._shutdown_once_executions_finish_event.set()


def test_the_dagster_command_runs_in_process(capsys):
    assert dagster_private.run_dagster_cli(["api", "grpc", "--help"]) == 0
    assert "--module-name" in capsys.readouterr().out


def test_the_users_of_the_adapter_import():
    from amc_reports import code_server, run_launcher

    assert callable(code_server.main)
    assert run_launcher.LocalProcessRunLauncher().supports_check_run_worker_health
