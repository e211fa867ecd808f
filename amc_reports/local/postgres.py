"""The embedded PostgreSQL (pgserver), shared safely by every process of the project.

Used when `AMC_REPORTS_DATABASE_URL` is unset. One server per data folder (`amc_reports.environment`
chooses it: `AMC_REPORTS_PGDATA`, else `<home>/postgres`). It listens on a unix socket only (in
the data folder, or pgserver's runtime folder when that path is too long); `uri()` returns a libpq
URI such as `postgresql://postgres:@/postgres?host=/path/to/socket-dir`.

How it is shared (and why not pgserver's own `cleanup_mode`):

- pgserver's `cleanup_mode="stop"` refcounts handle pids in `<pgdata>/.handle_pids.json` and stops
  the server in the `atexit` of the last one. It never prunes pids of processes that died without
  `atexit` (SIGKILL, SIGTERM without a handler, `os._exit` in forked workers), so one crashed run
  worker keeps the server forever, while a clean exit of the last holder stops it under any process
  that got the URL some other way (an operator's psql, a subprocess given the URL). So we call
  `get_server(cleanup_mode=None)` (start or find, never stop) and keep our own bookkeeping:
- `<pgdata>.lock` (fcntl, beside the data folder) serialises start, registration and stop across
  processes. Under it, `uri()` starts the server if it is not running (or finds the running one
  through `postmaster.pid`, as pgserver does) and records this process as a holder in
  `<pgdata>.holders.json` as (pid, process start time), so a recycled pid is not mistaken for a live
  holder.
- A process releases its hold at exit (`atexit`; a forked child registers itself on first use). A
  process that exits never stops the server itself. When the last live holder is gone, a small
  detached reaper (`python -m amc_reports.local.postgres reap ...`) waits
  `AMC_REPORTS_PG_IDLE_SECONDS` (default 300; negative or `never` = keep running) and then, under
  the lock, stops the server with `pg_ctl stop -m fast` only if there is still no live holder and no
  client connection at all (pg_stat_activity), else it waits again. Dead holders are pruned whenever
  the file is read.
- So: one server per data folder, found again by the next process (even one that starts while the
  reaper waits), not stopped under a live process, and not left running forever once idle. It can
  also be stopped on request (`amc-reports postgres stop`), which ends open connections.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from amc_reports.local.process import IdleClock, ProcessRef, exclusive_lock, spawn_detached

DEFAULT_IDLE_SECONDS = 300.0

_log = logging.getLogger(__name__)


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
        import pgserver
        import pgserver.postgres_server
        import pgserver.utils
    return pgserver


class EmbeddedPostgres:
    """One pgserver data folder, shared by processes (see the module docstring)."""

    def __init__(
        self, pgdata: Path | str, *, idle_stop_seconds: float = DEFAULT_IDLE_SECONDS
    ) -> None:
        self.pgdata = Path(pgdata).expanduser().absolute()
        self.idle_stop_seconds = idle_stop_seconds
        base = self.pgdata.parent / self.pgdata.name
        self.lock_path = base.with_name(base.name + ".lock")
        self.holders_path = base.with_name(base.name + ".holders.json")
        self.reaper_log_path = base.with_name(base.name + ".reaper.log")
        self.log_path = self.pgdata / "log"
        self._uri: str | None = None
        self._registered_pid: int | None = None
        self._atexit_pid: int | None = None
        self._thread_lock = threading.Lock()

    # -- locking and bookkeeping ---------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.holders_path.read_text())
        except (FileNotFoundError, ValueError):
            state = {}
        holders = [ProcessRef(int(pid), float(when)) for pid, when in state.get("holders", [])]
        reaper = state.get("reaper")
        return {
            "holders": [holder for holder in holders if holder.is_alive()],
            "last_release": float(state.get("last_release", 0.0)),
            "reaper": ProcessRef(int(reaper[0]), float(reaper[1])) if reaper else None,
        }

    def _write_state(self, state: dict[str, Any]) -> None:
        reaper = state.get("reaper")
        data = {
            "holders": [(holder.pid, holder.started) for holder in state["holders"]],
            "last_release": state["last_release"],
            "reaper": (reaper.pid, reaper.started) if reaper else None,
        }
        tmp = self.holders_path.with_name(self.holders_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.holders_path)

    # -- the server ----------------------------------------------------------------------------

    def _postmaster(self) -> Any | None:
        pgserver = _pgserver()
        try:
            return pgserver.utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        except (AssertionError, ValueError, OSError):
            return None  # postmaster.pid being written

    def is_running(self) -> bool:
        info = self._postmaster()
        return bool(info is not None and info.is_running() and info.status == "ready")

    def uri(self) -> str:
        """Start (or find) the server, hold it for this process, and return its URI."""
        pid = os.getpid()
        with self._thread_lock:
            if self._uri and self._registered_pid == pid and self.is_running():
                return self._uri
            with exclusive_lock(self.lock_path):
                uri = self._start_locked()
                state = self._read_state()
                if all(holder.pid != pid for holder in state["holders"]):
                    state["holders"].append(ProcessRef.of(pid))
                self._write_state(state)
            self._uri, self._registered_pid = uri, pid
            if self._atexit_pid != pid:
                atexit.register(self._release_at_exit)
                self._atexit_pid = pid
            return uri

    def _start_locked(self) -> str:
        pgserver = _pgserver()
        resolved = self.pgdata.resolve()
        instances = pgserver.postgres_server.PostgresServer._instances
        if resolved in instances and not self.is_running():
            instances.pop(resolved, None)  # stopped since this process last looked
        started = time.monotonic()
        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        _log.info(
            "Embedded PostgreSQL in %s ready (%.1f s)", self.pgdata, time.monotonic() - started
        )
        return server.get_uri()

    def _release_at_exit(self) -> None:
        if self._registered_pid == os.getpid():
            with contextlib.suppress(Exception):
                self.release()

    def release(self) -> None:
        """This process no longer needs the server; the last holder hands it to the idle reaper."""
        pid = os.getpid()
        with exclusive_lock(self.lock_path):
            state = self._read_state()
            state["holders"] = [holder for holder in state["holders"] if holder.pid != pid]
            state["last_release"] = time.time()
            if not state["holders"] and self.idle_stop_seconds >= 0:
                reaper = state.get("reaper")
                if not (reaper and reaper.is_alive()):
                    state["reaper"] = self._spawn_reaper()
            self._write_state(state)
        self._registered_pid = None
        self._uri = None

    def _spawn_reaper(self) -> ProcessRef | None:
        command = [
            sys.executable,
            "-m",
            "amc_reports.local.postgres",
            "reap",
            str(self.pgdata),
            str(self.idle_stop_seconds),
        ]
        try:
            process = spawn_detached(command, log_path=self.reaper_log_path)
        except OSError as exc:
            _log.warning("could not start the idle reaper of %s: %s", self.pgdata, exc)
            return None
        return ProcessRef.of(process.pid)

    def reap(self, *, poll_seconds: float = 60.0) -> str:
        """Wait until idle, then stop the server (what the detached reaper runs)."""
        while True:
            with exclusive_lock(self.lock_path):
                state = self._read_state()
                if state["holders"]:
                    return "in use"
                if not self.is_running():
                    return "not running"
                now = time.time()
                idle = IdleClock(max(self.idle_stop_seconds, 0.0), state["last_release"])
                wait = idle.next_check(now, shortest=0.1, longest=poll_seconds)
                if idle.is_due(now):
                    connections = self._client_connections()
                    if connections == 0:
                        self._stop_locked()
                        return "stopped"
                    _log.info("%d client connection(s) still open; waiting", connections)
                    wait = min(max(self.idle_stop_seconds, 5.0), poll_seconds)
            time.sleep(wait)

    def _client_connections(self) -> int:
        import psycopg

        info = self._postmaster()
        if info is None:
            return 0
        try:
            with psycopg.connect(info.get_uri(), connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                return int(row[0]) if row else 0
        except psycopg.Error as exc:
            _log.warning("could not count connections of %s: %s", self.pgdata, exc)
            return 1

    def _system_user(self) -> str | None:
        return "pgserver" if os.name == "posix" and os.geteuid() == 0 else None

    def _stop_locked(self) -> bool:
        info = self._postmaster()
        if info is None or not info.is_running():
            return False
        pgserver = _pgserver()
        try:
            pgserver.pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=self._system_user(),
                timeout=120,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            _log.warning("pg_ctl stop failed (%s); terminating the postmaster", exc)
            with contextlib.suppress(Exception):
                info.process.terminate()
                info.process.wait(10)
        _log.info("Embedded PostgreSQL in %s stopped", self.pgdata)
        return True

    def stop(self) -> bool:
        """Stop the server now (ends open connections). True when it was running."""
        with exclusive_lock(self.lock_path):
            stopped = self._stop_locked()
        self._uri = None
        return stopped

    def status(self) -> dict[str, Any]:
        info = self._postmaster()
        running = bool(info is not None and info.is_running())
        with exclusive_lock(self.lock_path):
            state = self._read_state()
        return {
            "pgdata": str(self.pgdata),
            "running": running,
            "pid": info.pid if running else None,
            "uri": info.get_uri() if running else None,
            "holders": [holder.pid for holder in state["holders"]],
            "idle_stop_seconds": self.idle_stop_seconds,
            "log": str(self.log_path),
        }


_servers: dict[Path, EmbeddedPostgres] = {}
_servers_lock = threading.Lock()


def embedded_server(
    pgdata: Path, idle_stop_seconds: float = DEFAULT_IDLE_SECONDS
) -> EmbeddedPostgres:
    """The process's one `EmbeddedPostgres` object for a data folder."""
    path = Path(pgdata).expanduser().absolute()
    with _servers_lock:
        server = _servers.get(path)
        if server is None:
            server = _servers[path] = EmbeddedPostgres(path, idle_stop_seconds=idle_stop_seconds)
        return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amc_reports.local.postgres")
    sub = parser.add_subparsers(dest="command", required=True)
    reap = sub.add_parser(
        "reap", help="stop the server once idle (run detached by the last holder)"
    )
    reap.add_argument("pgdata")
    reap.add_argument("idle_seconds", type=float)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    server = EmbeddedPostgres(args.pgdata, idle_stop_seconds=args.idle_seconds)
    outcome = server.reap()
    _log.info("reaper of %s: %s", server.pgdata, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
