"""Backfill benchmark: the real deployment stack, W weeks of one report, AMC latency L, pool P.

Starts embedded Postgres, the sandbox, `dagster api grpc`, webserver and daemon (as the e2e test
does), launches a backfill through GraphQL and prints:

- wall time (launch -> backfill done) against the ideal ceil(W / P) * L;
- AMC slot utilisation over time (executions RUNNING at the sandbox, sampled each second);
- detection latency per week: AMC execution done -> the week's rows committed;
- CPU seconds of all Dagster processes (code server, run workers, webserver, daemon) per week;
- peak resident memory of those processes together.

    .venv/bin/python bench/backfill.py                     # L=60 s, W=30, P=10
    .venv/bin/python bench/backfill.py --latency 20 --weeks 10
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amc_reports.local.stack import Stack  # noqa: E402
from amc_reports.warehouse import Warehouse  # noqa: E402

INSTANCE_ID = "amcbench01"
REPORT = "campaign_weekly"
START = date(2026, 3, 1)

REPORTS_YAML = f"""
instances:
  us:
    instance_id: {INSTANCE_ID}
    advertiser_id: ENTITYBENCH
    marketplace_id: ATVPDKIKX0DER
reports:
  {REPORT}:
    instance: us
    sql: SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks FROM t
    start_date: {START.isoformat()}
    owners: [team:bench]
    schedule: false
    backfill_weeks_per_run: {{weeks_per_run}}
"""


class ProcessSampler(threading.Thread):
    """Samples the stack's process trees: peak RSS (sum) and CPU seconds of every process seen."""

    def __init__(self, roots: list[int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.interval = interval
        self.cpu_by_pid: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self.stop_event = threading.Event()

    def _tree(self) -> list[psutil.Process]:
        processes = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                processes.append(root)
                processes.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
        return processes

    def sample(self) -> None:
        rss = 0
        for process in self._tree():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
                    self.cpu_by_pid[(process.pid, process.create_time())] = (
                        times.user + times.system
                    )
            except psutil.NoSuchProcess:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_pid.values())


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=60.0, help="AMC latency L in seconds")
    parser.add_argument("--weeks", type=int, default=30, help="weeks W to backfill")
    parser.add_argument("--pool", type=int, default=10, help="pool limit P (AMC allows 10)")
    parser.add_argument(
        "--weeks-per-run",
        type=int,
        default=1,
        help="weeks batched in one run (the pool then counts runs: use --pool 10/N)",
    )
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="amc-backfill-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "reports.yaml").write_text(
        REPORTS_YAML.replace("{weeks_per_run}", str(args.weeks_per_run))
    )
    weeks = [START + timedelta(weeks=i) for i in range(args.weeks)]
    stack = Stack(
        root=root,
        pool_limit=args.pool,
        reports_config=root / "reports.yaml",
        sandbox_config={
            "instances": {
                INSTANCE_ID: {
                    "latency_seconds": args.latency,
                    "queue_seconds": 0,
                    "rows": 1000,
                    "max_running": 10,
                }
            }
        },
        max_concurrent_runs=max(25, args.pool * 2),
        postgres_dir=root / "postgres",
    )
    print(f"starting the stack in {root} ...", flush=True)
    stack.start()
    try:
        roots = [p.pid for p in stack.processes.values()]
        sampler = ProcessSampler(roots)
        sampler.sample()
        baseline_cpu = sampler.cpu_seconds
        sampler.start()

        utilisation: list[tuple[float, int]] = []
        launched = time.time()
        backfill_id = stack.launch_backfill(
            [["amc", "us", REPORT]], weeks[0].isoformat(), weeks[-1].isoformat()
        )
        print(
            f"backfill {backfill_id}: {args.weeks} weeks, L={args.latency:.0f} s, pool "
            f"{args.pool}, {args.weeks_per_run} week(s) per run",
            flush=True,
        )
        done = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
        while True:
            stats = stack.sandbox_stats()
            running = stats.get("running_per_instance", {}).get(INSTANCE_ID)
            if running is None:
                now = time.time()
                running = sum(
                    1
                    for e in stack.sandbox_executions()
                    if e["instance_id"] == INSTANCE_ID
                    and e["started_at"]
                    and e["started_at"] <= now
                    and (e["ended_at"] is None or e["ended_at"] > now)
                )
            utilisation.append((time.time() - launched, running))
            backfill = stack.backfill(backfill_id)
            if backfill["status"] in done:
                break
            time.sleep(1.0)
        finished = time.time()
        sampler.stop_event.set()
        sampler.join()
        sampler.sample()

        warehouse = Warehouse(stack.warehouse_url)
        executions = {
            e["execution_id"]: e
            for e in stack.sandbox_executions()
            if e["instance_id"] == INSTANCE_ID
        }
        detection = []
        for week in weeks:
            row = warehouse.get_week(REPORT, week)
            if row is None or row.status != "completed":
                continue
            execution = executions.get(row.amc_execution_id)
            amc_done = execution and (execution["ended_at"] or parse_time(execution["end_time"]))
            if amc_done and row.completed_at:
                detection.append(row.completed_at.timestamp() - amc_done)
        completed = sum(
            1 for w in weeks if (r := warehouse.get_week(REPORT, w)) and r.status == "completed"
        )

        wall = finished - launched
        amc_slots = min(args.pool * args.weeks_per_run, 10)
        ideal = math.ceil(args.weeks / amc_slots) * args.latency
        cpu = sampler.cpu_seconds - baseline_cpu
        busy = [n for _, n in utilisation]
        slot_seconds = sum(busy)  # one sample per ~second
        print()
        print(f"backfill status           {backfill['status']}, {completed}/{args.weeks} weeks")
        print(f"runs                      {len(backfill['runs'])}")
        print(f"wall time                 {wall:7.1f} s")
        print(f"ideal ceil(W/P)*L         {ideal:7.1f} s")
        print(f"wall / ideal              {wall / ideal:7.2f}x")
        print(
            f"AMC slot utilisation      {slot_seconds / (amc_slots * len(busy)):.0%} "
            f"mean, peak {max(busy)} RUNNING"
        )
        timeline = " ".join(str(n) for _, n in utilisation[:: max(1, len(utilisation) // 40)])
        print(f"RUNNING over time         {timeline}")
        if detection:
            print(
                f"detection latency         median {statistics.median(detection):.1f} s, "
                f"max {max(detection):.1f} s (AMC done -> rows committed)"
            )
        print(f"CPU, Dagster processes    {cpu:7.1f} s, {cpu / args.weeks:.2f} s per week")
        print(f"peak RSS, all processes   {sampler.peak_rss / 2**20:7.0f} MiB")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
