"""Run the sandbox in the foreground: one uvicorn worker serving one state dir."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from amc_reports.amc.redact import RedactingFilter
from amc_reports.local.process import LockTimeout, exclusive_lock
from amc_reports.local.sandbox.constants import (
    CONFIG_FILE_NAMES,
    PID_FILE,
    RUNTIME_FILE,
    SERVER_LOCK_FILE,
)
from amc_reports.local.sandbox.faults import ConfigError, load_config_file, merge_config

log = logging.getLogger("amc_reports.local.sandbox")

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_LOCKED = 3
EXIT_BIND = 4


def setup_logging(level: str = "info") -> None:
    """Log to stderr (the launcher sends it to ``sandbox.log``), every line redacted."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def load_base_config(
    state_dir: Path, config_file: Path | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """Config files in the state dir, then ``--config``, then command-line overrides."""
    config: dict[str, Any] = {}
    for name in CONFIG_FILE_NAMES:
        path = state_dir / name
        if path.is_file():
            config = merge_config(config, load_config_file(path))
    if config_file is not None:
        config = merge_config(config, load_config_file(Path(config_file)))
    if overrides:
        config = merge_config(config, {k: v for k, v in overrides.items() if v is not None})
    return config


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read_runtime_info(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(state_dir) / RUNTIME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def serve(
    *,
    host: str,
    port: int,
    state_dir: Path,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    idle_timeout: float = 0,
    access_log: bool = True,
    log_level: str = "info",
) -> int:
    """Serve until SIGINT/SIGTERM, ``POST /_sandbox/shutdown`` or the idle timeout."""
    import uvicorn

    from amc_reports.local.sandbox.app import create_app

    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)

    with contextlib.ExitStack() as serving:
        try:  # held for the whole run: two servers never share a state dir
            serving.enter_context(exclusive_lock(state_dir / SERVER_LOCK_FILE, timeout=0))
        except LockTimeout:
            info = read_runtime_info(state_dir) or {}
            log.error(
                "another sandbox already serves %s (pid %s, %s); not starting a second one",
                state_dir,
                info.get("pid", "?"),
                info.get("url", "?"),
            )
            return EXIT_LOCKED
        try:
            base_config = load_base_config(state_dir, config_file, overrides)
        except (ConfigError, OSError) as exc:
            log.error("invalid sandbox configuration: %s", exc)
            return EXIT_CONFIG
        try:
            sock = _bind(host, port)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else str(exc)
            log.error("cannot listen on %s:%s: %s", host, port, reason)
            return EXIT_BIND
        actual_port = sock.getsockname()[1]
        url = (
            f"http://{host}:{actual_port}" if ":" not in host else f"http://[{host}]:{actual_port}"
        )

        app = create_app(
            state_dir,
            base_config,
            access_log_enabled=access_log,
            idle_timeout=idle_timeout,
            host=host,
        )
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,  # a download waiting on a query does not hold shutdown
            server_header=False,
            proxy_headers=False,
            log_level=log_level,
        )
        server = uvicorn.Server(config)
        app.state.request_shutdown = lambda: setattr(server, "should_exit", True)

        info = {
            "pid": os.getpid(),
            "host": host,
            "port": actual_port,
            "url": url,
            "state_dir": str(state_dir),
            "started_at": time.time(),
        }
        write_json_atomic(state_dir / RUNTIME_FILE, info)
        (state_dir / PID_FILE).write_text(f"{os.getpid()}\n", encoding="utf-8")
        log.info(
            "AMC sandbox serving %s (state dir %s, pid %d, config %s)",
            url,
            state_dir,
            os.getpid(),
            json.dumps(base_config, sort_keys=True),
        )
        # uvicorn re-raises the signal that stopped it once it has shut down; with SIGTERM's
        # default action that would kill the process before the clean-up below.
        signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
            current = read_runtime_info(state_dir)
            if current and current.get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    (state_dir / RUNTIME_FILE).unlink()
                with contextlib.suppress(OSError):
                    (state_dir / PID_FILE).unlink()
            log.info("AMC sandbox on %s stopped", url)
        return EXIT_OK
