"""Make sure a sandbox is running (start one in the background if not), and stop it.

One sandbox per state dir, and so per project (its ``.amc_reports/sandbox``): concurrent callers
(webserver, run workers, tests) serialise on a lock file, the first one starts a detached server
(its own session, so it outlives the caller), the others find it by the runtime file the server
writes (``sandbox.json``) and a health check that names the state dir it serves. A sandbox of
another state dir (another checkout on the same machine, with its own faults) is never reused
unless its address is asked for explicitly. The server also holds a lock of its own, so two
servers can never share a state dir.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from amc_reports.amc.redact import redact_text
from amc_reports.local.process import (
    LockTimeout,
    command_line,
    exclusive_lock,
    is_alive,
    service_environment,
    spawn_detached,
    terminate,
)
from amc_reports.local.sandbox.constants import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    HEALTH_PATH,
    LAUNCH_LOCK_FILE,
    LOG_FILE,
    PID_FILE,
    RUNTIME_FILE,
    SERVICE_NAME,
)

log = logging.getLogger("amc_reports.local.sandbox")

DEFAULT_IDLE_TIMEOUT = 4 * 3600.0  # a background sandbox nobody talks to for 4 h stops


class SandboxError(RuntimeError):
    """The sandbox could not be found or started."""


def sandbox_health(base_url: str, *, timeout: float = 2.0) -> dict[str, Any] | None:
    """The health document of a sandbox at ``base_url``, or None if nothing healthy answers."""
    try:
        resp = requests.get(base_url.rstrip("/") + HEALTH_PATH, timeout=timeout)
    except requests.RequestException:
        return None
    if resp.status_code != 200:
        return None
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("service") != SERVICE_NAME:
        return None
    return data


def read_runtime_info(state_dir: Path) -> dict[str, Any] | None:
    from amc_reports.local.sandbox.server import read_runtime_info as _read

    return _read(state_dir)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return redact_text("\n".join(text.splitlines()[-lines:]))


def _start_process(
    host: str,
    port: int,
    state_dir: Path,
    *,
    config_file: Path | None,
    idle_timeout: float,
    extra_args: Sequence[str],
) -> subprocess.Popen:
    from amc_reports.paths import PROJECT_ROOT

    log_path = state_dir / LOG_FILE
    cmd = [
        sys.executable,
        "-m",
        "amc_reports.local.sandbox",
        "--host",
        host,
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--idle-timeout",
        str(idle_timeout),
    ]
    if config_file is not None:
        cmd += ["--config", str(config_file)]
    cmd += list(extra_args)
    # Only what it needs: the sandbox runs queries from anyone who reaches it.
    python_path = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env = service_environment({"PYTHONPATH": python_path})
    proc = spawn_detached(cmd, log_path=log_path, cwd=state_dir, env=env)
    log.info("started AMC sandbox process %d on %s:%s (log %s)", proc.pid, host, port, log_path)
    return proc


def ensure_sandbox(
    *,
    state_dir: Path,
    url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    startup_timeout: float = 30,
    config_file: Path | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    extra_args: Sequence[str] = (),
    preferred_port: int = DEFAULT_PORT,
) -> str:
    """Return the base URL of a healthy sandbox, starting one in the background if needed.

    - With ``url`` (or ``port``): the sandbox at that address, whichever project's it is (it was
      asked for), or a new one started there (a loopback address with a port; ``port=0``: any
      free port).
    - Otherwise the project's own sandbox: the one serving ``state_dir`` (found by its runtime
      file, confirmed by a health check naming that state dir), else a new one on
      ``preferred_port`` (8765) unless another sandbox holds it, else on a free port. A sandbox
      of another state dir (another checkout's, with its own faults) is never taken for ours.

    The started server is detached (own session), logs to ``<state_dir>/sandbox.log`` and stops
    after ``idle_timeout`` seconds without requests (0: never).
    """
    if url:
        url = url.rstrip("/")
        if sandbox_health(url):
            return url
        parts = urlsplit(url)
        if not _is_loopback(parts.hostname) or parts.port is None:
            raise SandboxError(
                f"no sandbox answers at {url}, and it is not a loopback address with a port where "
                "one could be started"
            )
        host, port = parts.hostname or host, parts.port
    if not _is_loopback(host):
        raise SandboxError(f"the sandbox only listens on loopback addresses, not {host!r}")
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    if port and sandbox_health(_url(host, port)):
        return _url(host, port)

    with contextlib.ExitStack() as launching:
        lock_path = state_dir / LAUNCH_LOCK_FILE
        try:
            launching.enter_context(exclusive_lock(lock_path, timeout=startup_timeout + 30))
        except LockTimeout as exc:
            raise SandboxError(
                f"timed out after {exc.timeout:.0f}s waiting for {lock_path} (another process is "
                "starting the sandbox)"
            ) from None
        if port and sandbox_health(_url(host, port)):
            return _url(host, port)
        own = _own_sandbox(state_dir)
        if own is not None:
            own_url, own_port = own
            if port is None or port == 0 or own_port == port:
                return own_url
            log.warning(
                "the sandbox of %s already runs at %s; using it instead of port %s",
                state_dir,
                own_url,
                port,
            )
            return own_url
        if port is not None:
            candidates = [port]
        elif sandbox_health(_url(host, preferred_port)):
            candidates = [0]  # another project's sandbox holds the usual port
        else:
            candidates = [preferred_port, 0]
        launch = functools.partial(
            _launch,
            host,
            state_dir=state_dir,
            startup_timeout=startup_timeout,
            config_file=config_file,
            idle_timeout=idle_timeout,
            extra_args=extra_args,
        )
        for candidate in candidates[:-1]:
            try:
                return launch(candidate)
            except _PortTaken:
                log.info("port %s taken: the sandbox of %s takes a free one", candidate, state_dir)
        return launch(candidates[-1])


def _url(host: str, port: int) -> str:
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


def _own_sandbox(state_dir: Path) -> tuple[str, int] | None:
    """(url, port) of the running sandbox that serves ``state_dir``, if any.

    Its runtime file says where it runs; the health check must confirm that what answers there
    is the sandbox of this very state dir (a stale file can point at a port another project's
    sandbox has taken since).
    """
    info = read_runtime_info(state_dir)
    if not info or not info.get("url"):
        return None
    health = sandbox_health(str(info["url"]))
    if not health or not _same_dir(health.get("state_dir"), state_dir):
        return None
    return str(info["url"]), int(info.get("port") or 0)


def _same_dir(reported: Any, state_dir: Path) -> bool:
    if not reported:
        return False
    try:
        return Path(str(reported)).resolve() == state_dir
    except OSError:
        return False


class _PortTaken(SandboxError):
    """The sandbox could not listen on the port it was given (another process holds it)."""


def _launch(
    host: str,
    port: int,
    *,
    state_dir: Path,
    startup_timeout: float,
    config_file: Path | None,
    idle_timeout: float,
    extra_args: Sequence[str],
) -> str:
    """Start a sandbox for ``state_dir`` on ``host:port`` (0: a free port); wait until healthy."""
    from amc_reports.local.sandbox.server import EXIT_BIND

    proc = _start_process(
        host,
        port,
        state_dir,
        config_file=config_file,
        idle_timeout=idle_timeout,
        extra_args=extra_args,
    )
    deadline = time.monotonic() + startup_timeout
    while True:
        candidate = _url(host, port) if port else None
        if not port:
            info = read_runtime_info(state_dir)
            if info and info.get("pid") == proc.pid:
                candidate = str(info["url"])
        if candidate:
            health = sandbox_health(candidate, timeout=1.0)
            if health and health.get("pid") == proc.pid:
                return candidate
        rc = proc.poll()
        if rc is not None:
            error = _PortTaken if rc == EXIT_BIND and port else SandboxError
            raise error(
                f"the AMC sandbox exited with code {rc} while starting on {host}:{port}; "
                f"last lines of {state_dir / LOG_FILE}:\n{_log_tail(state_dir / LOG_FILE)}"
            )
        if time.monotonic() > deadline:
            terminate(proc.pid, timeout=5)
            raise SandboxError(
                f"the AMC sandbox did not become healthy within {startup_timeout:.0f}s; last "
                f"lines of {state_dir / LOG_FILE}:\n{_log_tail(state_dir / LOG_FILE)}"
            )
        time.sleep(0.1)  # polling the health check with a deadline


# Module names a sandbox process runs as (the second: started before the sandbox moved to local/).
SANDBOX_MODULES = ("amc_reports.local.sandbox", "amc_reports.amc.sandbox")


def _is_sandbox_process(pid: int) -> bool:
    cmdline = command_line(pid)
    if cmdline is None:
        return is_alive(pid)  # cannot read its command line: trust the pid file
    return any(module in cmdline for module in SANDBOX_MODULES) or (
        "amc-reports" in cmdline and "sandbox" in cmdline
    )


def stop_sandbox(state_dir: Path, *, timeout: float = 15) -> bool:
    """Stop the sandbox serving ``state_dir`` (SIGTERM, then SIGKILL). True if one was stopped."""
    state_dir = Path(state_dir).resolve()
    info = read_runtime_info(state_dir) or {}
    pid = info.get("pid")
    if not pid:
        with contextlib.suppress(OSError, ValueError):
            pid = int((state_dir / PID_FILE).read_text().strip())
    stopped = False
    if isinstance(pid, int) and pid > 0 and is_alive(pid) and _is_sandbox_process(pid):
        terminate(pid, timeout=timeout)
        stopped = True
        log.info("stopped AMC sandbox process %d (%s)", pid, state_dir)
    current = read_runtime_info(state_dir)
    if current is not None and current.get("pid") in (pid, None):
        with contextlib.suppress(OSError):
            (state_dir / RUNTIME_FILE).unlink()
    with contextlib.suppress(OSError, ValueError):
        if int((state_dir / PID_FILE).read_text().strip()) == pid:
            (state_dir / PID_FILE).unlink()
    return stopped
