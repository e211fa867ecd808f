"""What the sandbox's query limits hold: runaway queries, an oversized body, shutdown mid-query.

Starts a sandbox process (temporary state dir) with the default limits unless told otherwise
(``query_timeout_seconds`` 60, ``query_memory_mb`` 1024) and, for a triple cross join and a
recursive CTE that never ends: the time until the execution ends FAILED, its reason, the process's
peak RSS (sampled every 50 ms) and the slowest of the health checks polled meanwhile. Then a
200 MB body sent to the (unauthenticated) token endpoint: how much was taken in before the 413 and
the peak RSS; then shutdown while a query runs: the time until the process is gone.

    .venv/bin/python bench/sandbox_limits.py
    .venv/bin/python bench/sandbox_limits.py --timeout 20 --memory-mb 512
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from amc_reports.amc import AmcClient  # noqa: E402
from amc_reports.local.sandbox import (  # noqa: E402
    ensure_sandbox,
    sandbox_client_config,
    stop_sandbox,
)

INSTANCE = "amclimits01"
QUERIES = {
    "triple cross join": (
        "SELECT a.event_id, b.event_id AS b, c.event_id AS c "
        "FROM sponsored_ads_traffic a, sponsored_ads_traffic b, sponsored_ads_traffic c"
    ),
    "recursive CTE": (
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    ),
}


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def reset(self) -> None:
        self.peak = self.process.memory_info().rss

    def mib(self) -> int:
        return self.peak >> 20


def _create(client: AmcClient, sql: str) -> str:
    return client.create_execution(
        INSTANCE,
        sql=sql,
        time_window_start="2026-03-01T00:00:00",
        time_window_end="2026-03-08T00:00:00",
        time_zone="UTC",
    ).execution_id


def _runaway(url: str, client: AmcClient, rss: PeakRss, name: str, sql: str) -> None:
    rss.reset()
    started = time.monotonic()
    execution_id = _create(client, sql)
    slowest = 0.0
    while not (record := client.get_execution(INSTANCE, execution_id)).is_terminal:
        t = time.monotonic()
        requests.get(f"{url}/_sandbox/health", timeout=5).raise_for_status()
        slowest = max(slowest, time.monotonic() - t)
    print(
        f"{name}: {record.status} after {time.monotonic() - started:.1f} s "
        f"({record.failure_reason}); peak RSS {rss.mib()} MiB; "
        f"slowest health {slowest * 1000:.0f} ms"
    )


def _big_token_body(url: str, rss: PeakRss, megabytes: int = 200) -> None:
    rss.reset()
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(
            f"POST /auth/o2/token HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Length: {megabytes << 20}\r\n\r\n".encode()
        )
        chunk = b"a" * (1 << 20)
        try:
            while sent < megabytes << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            answer = sock.recv(64).split(b"\r\n", 1)[0].decode()
        except OSError as exc:
            answer = f"(connection reset: {type(exc).__name__})"
    print(
        f"{megabytes} MB body to the token endpoint: {answer}; the server closed after "
        f"{sent >> 20} MB were sent; peak RSS {rss.mib()} MiB"
    )


def _shutdown_mid_query(url: str, client: AmcClient, pid: int) -> None:
    execution_id = _create(client, QUERIES["recursive CTE"])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # let the query start
        client.get_execution(INSTANCE, execution_id)
        time.sleep(0.1)
    started = time.monotonic()
    requests.post(f"{url}/_sandbox/shutdown", json={}, timeout=5)
    process = psutil.Process(pid)
    while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.02)
    print(f"shutdown during a query: the process was gone after {time.monotonic() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=None, help="query_timeout_seconds")
    parser.add_argument("--memory-mb", type=int, default=None, help="query_memory_mb")
    args = parser.parse_args()
    config: dict = {"rows": None, "latency_seconds": 0.2, "impressions_per_day": 2000}
    if args.timeout is not None:
        config["query_timeout_seconds"] = args.timeout
    if args.memory_mb is not None:
        config["query_memory_mb"] = args.memory_mb
    with tempfile.TemporaryDirectory(prefix="amc-limits-") as tmp:
        state_dir = Path(tmp)
        (state_dir / "sandbox.yaml").write_text(yaml.safe_dump(config))
        url = ensure_sandbox(port=0, state_dir=state_dir, startup_timeout=60)
        pid = requests.get(f"{url}/_sandbox/health", timeout=5).json()["pid"]
        rss = PeakRss(pid)
        print(f"sandbox pid {pid}, idle RSS {rss.process.memory_info().rss >> 20} MiB")
        try:
            with AmcClient(sandbox_client_config(url)) as client:
                for name, sql in QUERIES.items():
                    _runaway(url, client, rss, name, sql)
                _big_token_body(url, rss)
                _shutdown_mid_query(url, client, pid)
        finally:
            stop_sandbox(state_dir)


if __name__ == "__main__":
    main()
