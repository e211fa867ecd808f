"""Load benchmark of the AMC sandbox: status polls (GET execution) per second on loopback.

Starts a sandbox process in a temporary state dir (or uses ``--url``), creates a few long-running
executions, then hammers ``GET /amc/reporting/{instance}/workflowExecutions/{id}`` from several
client processes x threads (each with its own keep-alive connection) for a fixed duration, and
prints throughput and latency percentiles. Target: >= 300 req/s on 2 cores.

    .venv/bin/python bench/sandbox_load.py                 # 20 s, 4 processes x 4 threads
    .venv/bin/python bench/sandbox_load.py --duration 10 --processes 2 --threads 8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from amc_reports.amc import AmcClient  # noqa: E402
from amc_reports.local.sandbox import (  # noqa: E402
    SANDBOX_CLIENT_ID,
    ensure_sandbox,
    sandbox_client_config,
    stop_sandbox,
)

INSTANCE = "amcbench01"
SQL = (
    "SELECT event_date, campaign_id, SUM(impressions) AS impressions "
    "FROM sponsored_ads_traffic GROUP BY 1, 2"
)


def _worker(
    base_url: str,
    token: str,
    execution_ids: list[str],
    threads: int,
    start_at: float,
    measure_from: float,
    stop_at: float,
    out: multiprocessing.Queue,
) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Amazon-Advertising-API-ClientId": SANDBOX_CLIENT_ID,
        "Amazon-Advertising-API-AdvertiserId": "ENTITYSANDBOX",
        "Amazon-Advertising-API-MarketplaceId": "ATVPDKIKX0DER",
        "Accept": "application/json",
    }
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def run(seed: int) -> None:
        session = requests.Session()
        own: list[float] = []
        own_errors: dict[str, int] = {}
        i = seed
        while time.time() < start_at:
            time.sleep(0.001)
        while True:
            now = time.time()
            if now >= stop_at:
                break
            execution_id = execution_ids[i % len(execution_ids)]
            i += 1
            url = f"{base_url}/amc/reporting/{INSTANCE}/workflowExecutions/{execution_id}"
            t0 = time.perf_counter()
            try:
                resp = session.get(url, headers=headers, timeout=30)
                resp.content  # noqa: B018 - read the body
                status = resp.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - t0
            if now < measure_from:
                continue  # warm-up
            if status == 200:
                own.append(elapsed)
            else:
                own_errors[str(status)] = own_errors.get(str(status), 0) + 1
        session.close()
        with lock:
            latencies.extend(own)
            for k, v in own_errors.items():
                errors[k] = errors.get(k, 0) + v

    pool = [threading.Thread(target=run, args=(n * 7,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors))


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this running sandbox instead of starting one")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    parser.add_argument("--executions", type=int, default=50, help="distinct executions polled")
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    args = parser.parse_args(argv)

    tmp = None
    state_dir = None
    if args.url:
        base_url = args.url.rstrip("/")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="amc-sandbox-bench-")
        state_dir = Path(tmp.name)
        # Executions stay RUNNING for the whole benchmark: polls see a live schedule.
        (state_dir / "config.json").write_text(json.dumps({"latency_seconds": 3600}))
        base_url = ensure_sandbox(port=0, state_dir=state_dir, idle_timeout=600)
    try:
        health = requests.get(f"{base_url}/_sandbox/health", timeout=10).json()
        server_pid = health.get("pid")
        client = AmcClient(sandbox_client_config(base_url))
        ids = []
        start, end = _window()
        for _ in range(args.executions):
            record = client.create_execution(
                INSTANCE,
                sql=SQL,
                time_window_start=start,
                time_window_end=end,
                time_zone="America/New_York",
            )
            ids.append(record.execution_id)
        token = client._tokens.get(time.monotonic() + 30)
        client.close()

        start_at = time.time() + 1.0
        measure_from = start_at + args.warmup
        stop_at = measure_from + args.duration
        ctx = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue = ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker,
                args=(base_url, token, ids, args.threads, start_at, measure_from, stop_at, queue),
            )
            for _ in range(args.processes)
        ]
        for p in procs:
            p.start()
        while time.time() < measure_from:
            time.sleep(0.01)
        cpu_before = _cpu_seconds(server_pid) if server_pid else None
        wall_before = time.time()
        results = [queue.get(timeout=args.duration + args.warmup + 120) for _ in procs]
        for p in procs:
            p.join()
        cpu_after = _cpu_seconds(server_pid) if server_pid else None
        wall = time.time() - wall_before

        latencies: list[float] = []
        errors: dict[str, int] = {}
        for lat, errs in results:
            latencies.extend(lat)
            for k, v in errs.items():
                errors[k] = errors.get(k, 0) + v
        total_time = stop_at - measure_from
        ok = len(latencies)
        rps = ok / total_time
        latencies.sort()
        q = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else None
        report = {
            "requests_ok": ok,
            "errors": errors,
            "seconds": round(total_time, 2),
            "req_per_s": round(rps, 1),
            "p50_ms": round(q[49] * 1000, 2) if q else None,
            "p90_ms": round(q[89] * 1000, 2) if q else None,
            "p99_ms": round(q[98] * 1000, 2) if q else None,
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
            "clients": f"{args.processes} processes x {args.threads} threads",
            "server_cpu_percent": (
                round(100 * (cpu_after - cpu_before) / wall, 1)
                if cpu_before is not None and cpu_after is not None and wall > 0
                else None
            ),
            "cpus": os.cpu_count(),
        }
        if args.json:
            print(json.dumps(report))
        else:
            print(
                f"sandbox status polls: {report['req_per_s']} req/s over {total_time:.0f}s "
                f"({ok} ok, errors {errors or 'none'}) with {report['clients']}"
            )
            print(
                f"latency p50 {report['p50_ms']} ms, p90 {report['p90_ms']} ms, "
                f"p99 {report['p99_ms']} ms, max {report['max_ms']} ms; "
                f"server CPU {report['server_cpu_percent']}% of one core; "
                f"{report['cpus']} CPUs"
            )
            print(json.dumps(report))
        return 0 if rps >= 300 and not errors else 1
    finally:
        if state_dir is not None:
            stop_sandbox(state_dir)
        if tmp is not None:
            tmp.cleanup()


def _window() -> tuple[str, str]:
    from datetime import date, timedelta

    end = date.today() - timedelta(days=7)
    start = end - timedelta(days=7)
    return f"{start}T00:00:00", f"{end}T00:00:00"


if __name__ == "__main__":
    sys.exit(main())
