"""The embedded PostgreSQL is shared by processes, survives their exits, and stops once idle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from amc_reports.local.postgres import EmbeddedPostgres
from amc_reports_tests.fixtures_postgres import server_temp_dir

CHILD = [sys.executable, "-m", "amc_reports_tests.local_tests.postgres_child"]


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Child:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            CHILD,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = self._line("url ")
        self.started = self._line("started ")

    def _line(self, prefix: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the child answers or dies
        assert line.startswith(prefix), f"unexpected output {line!r}"
        return line[len(prefix) :].strip()

    def query(self) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write("query\n")
        self.process.stdin.flush()
        return self._line("ok ")

    def exit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


@pytest.fixture
def pg_root() -> Iterator[Path]:
    """Not pytest's tmp_path: see `fixtures_postgres.server_temp_dir`."""
    root = server_temp_dir("amc_reports_embedded_")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def embedded_env(pg_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AMC_REPORTS_DATABASE_URL"}
    env["AMC_REPORTS_PGDATA"] = str(pg_root / "pg")
    env["AMC_REPORTS_PG_IDLE_SECONDS"] = "1"
    return env


def test_processes_share_one_server_that_outlives_each_of_them(embedded_env, pg_root):
    server = EmbeddedPostgres(pg_root / "pg", idle_stop_seconds=1)
    first = second = None
    try:
        first = Child(embedded_env)
        second = Child(embedded_env)
        assert first.url == second.url
        assert first.started == second.started  # one server, found again by the second process
        assert server.status()["running"]
        assert set(server.status()["holders"]) == {first.process.pid, second.process.pid}

        first.exit()
        assert second.query() == second.started  # still up, same server, after the first left
        assert server.status()["holders"] == [second.process.pid]

        # A client that is not a holder (an operator's psql) keeps it up while connected.
        with psycopg.connect(second.url) as conn:
            second.exit()
            _wait_for(
                lambda: "client connection(s) still open" in _reaper_log(pg_root),
                60,
                "the reaper to notice the open connection",
            )
            assert conn.execute("SELECT 1").fetchone() == (1,)
        _wait_for(lambda: ": stopped" in _reaper_log(pg_root), 60, "the reaper to stop it")
        assert not server.is_running()

        # The next process starts it again in the same folder.
        third = Child(embedded_env)
        assert third.url == first.url
        assert third.started != first.started
        third.exit()
    finally:
        for child in (first, second):
            if child is not None and child.process.poll() is None:
                child.process.kill()
        server.stop()


def test_a_killed_holder_does_not_keep_the_server_forever(embedded_env, pg_root):
    server = EmbeddedPostgres(pg_root / "pg", idle_stop_seconds=1)
    try:
        crashed = Child(embedded_env)
        crashed.process.kill()  # no atexit: its hold stays in the file
        crashed.process.wait(timeout=60)
        survivor = Child(embedded_env)
        assert survivor.started == crashed.started
        assert server.status()["holders"] == [survivor.process.pid]  # the dead one is pruned
        survivor.exit()
        _wait_for(lambda: not server.is_running(), 60, "the idle server to stop")
    finally:
        server.stop()


def test_explicit_stop_and_restart_in_process(pg_root):
    server = EmbeddedPostgres(pg_root / "pg", idle_stop_seconds=-1)
    try:
        url = server.uri()
        assert server.stop() is True
        assert server.stop() is False
        assert server.uri() == url  # restarted on demand
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.release()
        server.stop()


def _reaper_log(root: Path) -> str:
    path = root / "pg.reaper.log"
    return path.read_text() if path.exists() else ""
