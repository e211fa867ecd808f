"""Backfill benchmark: per-week runs, batched runs and a bare-Dagster anchor, side by side.

Starts the real deployment stack once (embedded Postgres, the AMC sandbox, one `dagster api grpc`
per code location, webserver, daemon with deploy/dagster.yaml and the single-host run launcher, as
the e2e test does), then backfills W weeks in each mode, one mode after the other, through GraphQL:

- `bare`: the anchor, `bench/bare_location.py`: an asset that only sleeps L, pool of 10, in-process
  executor, nothing else. What Dagster itself costs per run.
- `per-week`: a report collected one run per week (the product's default), pools as
  `amc-reports init-pools` sets them.
- `per-week-pool10`: the same with the instance's pool forced to 10 (the product before the
  queue-ahead pools), for comparison.
- `batched`: a report with `backfill_weeks_per_run: N` (one run collects N weeks).

Each report has its own AMC instance at the sandbox (latency L, no queueing delay, 10 RUNNING at
once), so the modes do not share AMC slots or weeks. Per mode it prints: wall time against the
ideal ceil(W/10)*L, CPU of all Dagster processes (code servers with their run workers, webserver,
daemon) per week, peak memory and memory per week in flight, executions RUNNING at AMC over time,
and where a run's time goes (median per run, from the event log and the sandbox).

    .venv/bin/python bench/backfill.py                            # L=60 s, W=30, three modes
    .venv/bin/python bench/backfill.py --latency 20 --weeks 10 --modes bare,per-week
    .venv/bin/python bench/backfill.py --profile-workers /tmp/prof   # cProfile every run worker
"""

from __future__ import annotations

import argparse
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bare_location import BARE_FORKED_POOL, BARE_POOL  # noqa: E402
from sampling import TreeSampler, tree_cpu_seconds  # noqa: E402

from amc_reports.warehouse import Warehouse  # noqa: E402
from amc_reports_tests.support.stack import (  # noqa: E402
    BACKFILL_DONE,
    PRODUCT_LOCATION,
    PRODUCT_TARGET,
    Stack,
    forked_code_server,
    stock_code_server,
)

START = date(2026, 3, 1)
AMC_SLOTS = 10  # RUNNING executions per AMC instance (the sandbox's max_running, like AMC)
BARE_LOCATION = "bench_bare"
BARE_FORKED_LOCATION = "bench_bare_forked"


@dataclass(frozen=True)
class Mode:
    name: str
    asset: list[str]
    location: str
    weeks_per_run: int = 1
    report: str | None = None  # None: the bare anchor
    instance_id: str | None = None
    pool: str | None = None
    pool_limit: int | None = None  # None: as `amc-reports init-pools` set it


def modes(batch_weeks: int) -> dict[str, Mode]:
    return {
        "bare": Mode(
            "bare", ["bench", "bare_sleep"], BARE_LOCATION, pool=BARE_POOL, pool_limit=AMC_SLOTS
        ),
        "bare-forked": Mode(
            "bare-forked",
            ["bench", "bare_sleep_forked"],
            BARE_FORKED_LOCATION,
            pool=BARE_FORKED_POOL,
            pool_limit=AMC_SLOTS,
        ),
        "per-week": Mode(
            "per-week",
            ["amc", "us", "weekly"],
            PRODUCT_LOCATION,
            report="weekly",
            instance_id="amcbench01",
            pool="amc_us",
        ),
        "per-week-pool10": Mode(
            "per-week-pool10",
            ["amc", "us10", "weekly_pool10"],
            PRODUCT_LOCATION,
            report="weekly_pool10",
            instance_id="amcbench03",
            pool="amc_us10",
            pool_limit=AMC_SLOTS,
        ),
        "batched": Mode(
            "batched",
            ["amc", "batch", "weekly_batched"],
            PRODUCT_LOCATION,
            weeks_per_run=batch_weeks,
            report="weekly_batched",
            instance_id="amcbench02",
            pool="amc_batch",
        ),
    }


def reports_yaml(batch_weeks: int) -> str:
    instances = {"us": "amcbench01", "batch": "amcbench02", "us10": "amcbench03"}
    lines = ["instances:"]
    for alias, instance_id in instances.items():
        lines += [
            f"  {alias}:",
            f"    instance_id: {instance_id}",
            "    advertiser_id: ENTITYBENCH",
            "    marketplace_id: ATVPDKIKX0DER",
        ]
    lines.append("reports:")
    for name, alias, batch in (
        ("weekly", "us", 1),
        ("weekly_batched", "batch", batch_weeks),
        ("weekly_pool10", "us10", 1),
    ):
        lines += [
            f"  {name}:",
            f"    instance: {alias}",
            "    sql: SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks"
            " FROM t",
            f"    start_date: {START.isoformat()}",
            "    owners: [team:bench]",
            "    schedule: false",
            f"    backfill_weeks_per_run: {batch}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class RunTimeline:
    """One run's event timestamps (epoch seconds) and its number of events."""

    run_id: str
    weeks: list[date]
    events: int
    times: dict[str, float] = field(default_factory=dict)


@dataclass
class ModeResult:
    mode: Mode
    status: str
    weeks_done: int
    runs: int
    launched: float
    first_run_created: float
    last_run_ended: float
    marked_done: float
    cpu: float
    cpu_by_process: dict[str, float]
    postgres_cpu: float
    sandbox_cpu: float
    idle_memory: int
    peak_memory: int
    memory_per_week_in_flight: float
    peak_weeks_in_flight: int
    worker_memory_median: float
    in_flight_timeline: list[tuple[float, int]]
    amc_timeline: list[tuple[float, int, int]]  # (t, RUNNING, PENDING)
    timelines: list[RunTimeline]
    amc_times: dict[date, tuple[float, float | None, float | None]]  # created, started, ended
    loads: list[float]  # the machine's 1-minute load average, sampled each second


def process_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each stack process with its descendants (run workers included)."""
    return {name: tree_cpu_seconds(p.pid) for name, p in stack.processes.items()}


def code_server_cpu(result: ModeResult) -> float:
    return sum(cpu for name, cpu in result.cpu_by_process.items() if name.startswith("grpc"))


def stack_roots(stack: Stack) -> list[int]:
    return [p.pid for p in stack.processes.values() if p.poll() is None]


def grpc_roots(stack: Stack, location: str) -> list[int]:
    process = stack.processes.get(Stack.grpc_process_name(location))
    return [process.pid] if process is not None else []


def postgres_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def amc_counts(stack: Stack, instance_id: str) -> tuple[int, int]:
    by_status = stack.sandbox_stats().get("executions_by_status", {}).get(instance_id, {})
    running = by_status.get("RUNNING", 0) + by_status.get("PUBLISHING", 0)
    return running, by_status.get("PENDING", 0)


def run_timelines(instance: Any, backfill_id: str) -> list[RunTimeline]:
    import dagster as dg

    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    timelines = []
    for record in records:
        run = record.dagster_run
        tags = run.tags
        if "dagster/partition" in tags:
            weeks = [date.fromisoformat(tags["dagster/partition"])]
        else:
            first = date.fromisoformat(tags["dagster/asset_partition_range_start"])
            last = date.fromisoformat(tags["dagster/asset_partition_range_end"])
            weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
        logs = instance.all_logs(run.run_id)
        timeline = RunTimeline(run.run_id, weeks, len(logs))
        timeline.times["created"] = record.create_timestamp.timestamp()
        if record.end_time:
            timeline.times["ended"] = record.end_time
        for entry in logs:
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            name = {
                # Reported when the daemon takes the run off the queue and launches it.
                "PIPELINE_STARTING": "launched",
                "PIPELINE_START": "run_start",
                "STEP_START": "step_start",
                "ASSET_MATERIALIZATION": "materialized",
                "STEP_SUCCESS": "step_end",
                "STEP_FAILURE": "step_end",
                "PIPELINE_SUCCESS": "run_end",
                "PIPELINE_FAILURE": "run_end",
            }.get(kind)
            if kind == "ENGINE_EVENT" and (entry.message or "").startswith("Started process"):
                name = "worker_started"
            if name and name not in timeline.times:  # the first of each (the asset's step)
                timeline.times[name] = entry.timestamp
        timelines.append(timeline)
    return timelines


def run_mode(
    stack: Stack,
    mode: Mode,
    weeks: list[date],
    sampler: TreeSampler,
    side_pids: dict[str, int | None],
    settle: float,
) -> ModeResult:
    instance = stack.instance()
    if mode.pool_limit is not None and mode.pool:
        instance.event_log_storage.set_concurrency_slots(mode.pool, mode.pool_limit)
    slots = instance.event_log_storage.get_concurrency_info(mode.pool).slot_count
    print(
        f"\n== {mode.name}: {len(weeks)} weeks, {mode.weeks_per_run} week(s) per run, "
        f"pool {mode.pool} = {slots} run(s)",
        flush=True,
    )
    time.sleep(settle)  # let the previous mode's tail (monitoring, idle reapers) pass
    idle = sampler.sample()
    cpu_before = process_cpu(stack)
    side_before = {name: tree_cpu_seconds(pid) if pid else 0.0 for name, pid in side_pids.items()}
    first_sample = len(sampler.samples)

    launched = time.time()
    backfill_id = stack.launch_backfill([mode.asset], weeks[0].isoformat(), weeks[-1].isoformat())
    amc_timeline: list[tuple[float, int, int]] = []
    loads: list[float] = []
    status = "?"
    next_status_check = 0.0
    while True:
        now = time.time()
        loads.append(os.getloadavg()[0])
        if mode.instance_id:
            running, pending = amc_counts(stack, mode.instance_id)
            amc_timeline.append((now - launched, running, pending))
        if now >= next_status_check:
            status = stack.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})[
                "partitionBackfillOrError"
            ]["status"]
            if status in BACKFILL_DONE:
                break
            next_status_check = now + 2.0
        time.sleep(1.0)
    marked_done = time.time()
    cpu_after = process_cpu(stack)
    cpu_by_process = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    side = {
        name: (tree_cpu_seconds(pid) if pid else 0.0) - side_before[name]
        for name, pid in side_pids.items()
    }
    samples = sampler.samples[first_sample:]
    peak = max(samples, key=lambda s: s.memory)
    weeks_in_flight = [(s.at - launched, s.workers * mode.weeks_per_run) for s in samples]
    peak_in_flight = max(n for _, n in weeks_in_flight)
    worker_peaks = [
        peak_memory
        for started, peak_memory in sampler.worker_peak.values()
        if started >= launched - 1
    ]

    timelines = run_timelines(instance, backfill_id)
    amc_times: dict[date, tuple[float, float | None, float | None]] = {}
    weeks_done = 0
    if mode.report:
        warehouse = Warehouse(stack.warehouse_url)
        executions = {
            e["execution_id"]: e
            for e in stack.sandbox_executions()
            if e["instance_id"] == mode.instance_id
        }
        for week in weeks:
            row = warehouse.get_week(mode.report, week)
            if row is None or not row.is_completed:
                continue
            weeks_done += 1
            execution = executions.get(row.amc_execution_id or "")
            if execution:
                amc_times[week] = (
                    execution["created_at"],
                    execution["started_at"],
                    execution["ended_at"],
                )
    else:
        weeks_done = sum(
            len(t.weeks) for t in timelines if "materialized" in t.times and "run_end" in t.times
        )
    instance.dispose()
    return ModeResult(
        mode=mode,
        status=status,
        weeks_done=weeks_done,
        runs=len(timelines),
        launched=launched,
        first_run_created=min(t.times["created"] for t in timelines),
        last_run_ended=max(t.times.get("ended", marked_done) for t in timelines),
        marked_done=marked_done,
        cpu=sum(cpu_by_process.values()),
        cpu_by_process=cpu_by_process,
        postgres_cpu=side["postgres"],
        sandbox_cpu=side["sandbox"],
        idle_memory=idle.memory,
        peak_memory=peak.memory,
        memory_per_week_in_flight=(
            (peak.memory - idle.memory) / (peak.workers * mode.weeks_per_run)
            if peak.workers
            else 0.0
        ),
        peak_weeks_in_flight=peak_in_flight,
        worker_memory_median=statistics.median(worker_peaks) if worker_peaks else 0.0,
        in_flight_timeline=weeks_in_flight,
        amc_timeline=amc_timeline,
        timelines=timelines,
        amc_times=amc_times,
        loads=loads,
    )


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def phases(result: ModeResult) -> dict[str, str]:
    """Median seconds per run between the events of its life (per week for AMC times)."""

    def span(start: str, end: str) -> list[float]:
        return [
            t.times[end] - t.times[start]
            for t in result.timelines
            if start in t.times and end in t.times
        ]

    out = {
        "queued -> launched (waits for a pool slot)": _median(span("created", "launched")),
        "launched -> worker process up (spawn, imports)": _median(
            span("launched", "worker_started")
        ),
        "worker up -> RUN_START": _median(span("worker_started", "run_start")),
        "RUN_START -> asset step starts": _median(span("run_start", "step_start")),
    }
    if result.mode.report:
        by_week = {w: t for t in result.timelines for w in t.weeks}
        submit, after, queued = [], [], []
        for week, (created, started, ended) in result.amc_times.items():
            timeline = by_week.get(week)
            if timeline is None:
                continue
            if "step_start" in timeline.times:
                submit.append(created - timeline.times["step_start"])
            if started is not None:
                queued.append(started - created)
            if ended is not None and "materialized" in timeline.times:
                after.append(timeline.times["materialized"] - ended)
        out["asset step starts -> AMC execution created"] = _median(submit)
        out["created -> RUNNING at AMC (AMC's queue)"] = _median(queued)
        out["AMC done -> materialized (poll, download, load)"] = _median(after)
    else:
        out["asset step (sleep L)"] = _median(span("step_start", "materialized"))
    out["materialized -> asset step ends"] = _median(span("materialized", "step_end"))
    out["asset step ends -> run ends (checks in the run, teardown)"] = _median(
        span("step_end", "run_end")
    )
    out["run ends -> run record ended"] = _median(span("run_end", "ended"))
    out["events per run"] = _median([float(t.events) for t in result.timelines])
    return out


def execution_time(result: ModeResult) -> str:
    if not result.mode.report:
        return (
            _median(
                [
                    t.times["materialized"] - t.times["step_start"]
                    for t in result.timelines
                    if {"materialized", "step_start"} <= t.times.keys()
                ]
            )
            + " s"
        )
    return (
        _median([end - start for _, start, end in result.amc_times.values() if start and end])
        + " s"
    )


def timeline_text(points: list[tuple[float, int]], buckets: int = 40) -> str:
    if not points:
        return "-"
    step = max(1, len(points) // buckets)
    return " ".join(str(n) for _, n in points[::step])


def print_results(results: list[ModeResult], weeks: int, latency: float, load: str) -> None:
    ideal = math.ceil(weeks / AMC_SLOTS) * latency
    header = "| | " + " | ".join(r.mode.name for r in results) + " |"
    rows: list[tuple[str, Callable[[ModeResult], str]]] = [
        (
            "machine load during the mode (1-min average: mean, max)",
            lambda r: f"{statistics.mean(r.loads):.1f}, {max(r.loads):.1f}",
        ),
        ("runs", lambda r: str(r.runs)),
        ("AMC execution time (median; bare: its sleep)", lambda r: execution_time(r)),
        ("weeks collected", lambda r: f"{r.weeks_done}/{weeks}"),
        (
            "launch -> first run created (daemon pickup)",
            lambda r: f"{r.first_run_created - r.launched:.1f} s",
        ),
        (
            "first run created -> last run ended",
            lambda r: f"{r.last_run_ended - r.first_run_created:.1f} s",
        ),
        (
            f"**wall / ideal** (ideal ceil(W/10)·L = {ideal:.0f} s)",
            lambda r: f"**{(r.last_run_ended - r.first_run_created) / ideal:.2f}×**",
        ),
        (
            "launch -> backfill marked done, / ideal",
            lambda r: (
                f"{r.marked_done - r.launched:.0f} s, {(r.marked_done - r.launched) / ideal:.2f}×"
            ),
        ),
        ("**Dagster CPU per week**", lambda r: f"**{r.cpu / weeks:.2f} s**"),
        ("Dagster CPU, total", lambda r: f"{r.cpu:.0f} s"),
        (
            "of which code server + run workers, per week",
            lambda r: f"{code_server_cpu(r) / weeks:.2f} s",
        ),
        (
            "of which daemon, per week",
            lambda r: f"{r.cpu_by_process.get('daemon', 0) / weeks:.2f} s",
        ),
        (
            "of which webserver, per week",
            lambda r: f"{r.cpu_by_process.get('webserver', 0) / weeks:.2f} s",
        ),
        ("Postgres CPU per week", lambda r: f"{r.postgres_cpu / weeks:.2f} s"),
        ("sandbox CPU per week", lambda r: f"{r.sandbox_cpu / weeks:.2f} s"),
        ("peak memory (PSS), Dagster processes", lambda r: f"{r.peak_memory / 2**20:,.0f} MiB"),
        ("idle memory (before the backfill)", lambda r: f"{r.idle_memory / 2**20:,.0f} MiB"),
        ("peak weeks in flight", lambda r: str(r.peak_weeks_in_flight)),
        (
            "**memory per week in flight** (peak − idle) / weeks",
            lambda r: f"**{r.memory_per_week_in_flight / 2**20:,.0f} MiB**",
        ),
        (
            "run worker PSS (median of peaks)",
            lambda r: f"{r.worker_memory_median / 2**20:,.0f} MiB",
        ),
        (
            "AMC RUNNING, mean of 10 slots",
            lambda r: (
                f"{statistics.mean(n for _, n, _ in r.amc_timeline) / AMC_SLOTS:.0%}"
                if r.amc_timeline
                else "-"
            ),
        ),
    ]
    print()
    print(f"W = {weeks}, L = {latency:.0f} s; machine: {load}")
    print()
    print(header)
    print("|---|" + "---|" * len(results))
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    all_phases = [phases(r) for r in results]
    print()
    print("Where a run's time goes (median per run, seconds):")
    print()
    print(header)
    print("|---|" + "---|" * len(results))
    labels = list(dict.fromkeys(label for p in all_phases for label in p))
    for label in labels:
        print(f"| {label} | " + " | ".join(p.get(label, "") for p in all_phases) + " |")
    print()
    print("AMC RUNNING over time (every ~5 s; bare: run workers alive):")
    for r in results:
        if r.amc_timeline:
            running = [(t, n) for t, n, _ in r.amc_timeline]
            pending = [(t, p) for t, _, p in r.amc_timeline]
            print(f"  {r.mode.name:16s} RUNNING  {timeline_text(running)}")
            print(f"  {'':16s} PENDING  {timeline_text(pending)}")
        else:
            print(f"  {r.mode.name:16s} workers  {timeline_text(r.in_flight_timeline)}")


def profile_summary(directory: Path, top: int = 30) -> None:
    """CPU seconds per run worker (cumulative, cProfile with a CPU clock), per code location."""
    for location in ("bare", "amc"):
        files = sorted(directory.glob(f"{location}-worker-*.prof"))
        if not files:
            continue
        stats = pstats.Stats(str(files[0]))
        for path in files[1:]:
            stats.add(str(path))
        entries = sorted(
            stats.stats.items(),  # type: ignore[attr-defined]
            key=lambda kv: kv[1][3],
            reverse=True,
        )
        print(f"\n{location} run workers profiled: {len(files)}; CPU s per worker, top {top}:")
        for (filename, line, name), (_cc, _nc, _tt, cumulative, _callers) in entries[:top]:
            where = f"{Path(filename).name}:{line}" if line else filename
            print(f"  {cumulative / len(files):7.3f}  {name}  ({where})")


BACKFILL_STATUS = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=60.0, help="AMC latency L in seconds")
    parser.add_argument("--weeks", type=int, default=30, help="weeks W to backfill per mode")
    parser.add_argument(
        "--modes",
        default="bare,per-week,batched",
        help="comma-separated, in order: bare, bare-forked, per-week, per-week-pool10, batched",
    )
    parser.add_argument("--batch-weeks", type=int, default=10, help="weeks per run, batched")
    parser.add_argument("--rows", type=int, default=1000, help="rows per AMC result")
    parser.add_argument("--settle", type=float, default=20.0, help="quiet seconds before each mode")
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument(
        "--profile-workers", type=Path, default=None, help="write a cProfile of each run worker"
    )
    parser.add_argument(
        "--dagster-dequeue",
        action="store_true",
        help="Dagster's default run dequeue (one thread, every 5 s), not deploy/dagster.yaml's",
    )
    parser.add_argument(
        "--stock-code-server",
        action="store_true",
        help="serve the product with `dagster api grpc` (spawned run workers), not code-server",
    )
    args = parser.parse_args()

    known = modes(args.batch_weeks)
    selected = [known[name.strip()] for name in args.modes.split(",") if name.strip()]
    root = args.root or Path(tempfile.mkdtemp(prefix="amc-backfill-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "reports.yaml").write_text(reports_yaml(args.batch_weeks))
    weeks = [START + timedelta(weeks=i) for i in range(args.weeks)]
    extra_env = {"AMC_BENCH_BARE_LATENCY": str(args.latency)}
    if args.profile_workers:
        args.profile_workers.mkdir(parents=True, exist_ok=True)
        extra_env["AMC_BENCH_PROFILE_DIR"] = str(args.profile_workers.resolve())
        extra_env["PYTHONPATH"] = os.pathsep.join(
            [str(BENCH / "workers"), os.environ.get("PYTHONPATH", "")]
        )
    instance_settings = {
        # An execution RUNS for L once it has a slot (the sandbox's default would split latency
        # into 20 % queue and 80 % run; with no queue that made executions 0.8 L long).
        "latency_seconds": args.latency,
        "queue_seconds": 0,
        "run_seconds": args.latency,
        "rows": args.rows,
        "max_running": AMC_SLOTS,
    }
    stack = Stack(
        root=root,
        reports_config=root / "reports.yaml",
        sandbox_config={
            "instances": {m.instance_id: instance_settings for m in known.values() if m.instance_id}
        },
        max_concurrent_runs=100,
        postgres_dir=root / "postgres",
        extra_env=extra_env,
        instance_overrides=(
            {
                "run_coordinator": {
                    "module": "dagster.core.run_coordinator",
                    "class": "QueuedRunCoordinator",
                }
            }
            if args.dagster_dequeue
            else {}
        ),
        code_locations={
            PRODUCT_LOCATION: (
                stock_code_server(*PRODUCT_TARGET)
                if args.stock_code_server
                else forked_code_server(*PRODUCT_TARGET)
            ),
            BARE_LOCATION: stock_code_server("-f", str(BENCH / "bare_location.py")),
            BARE_FORKED_LOCATION: forked_code_server("-f", str(BENCH / "bare_forked_location.py")),
        },
    )
    print(f"starting the stack in {root} ...", flush=True)
    stack.start()
    try:
        sandbox_pid = _sandbox_pid(stack)
        sampler = TreeSampler(
            roots=lambda: stack_roots(stack),
            worker_roots=lambda: [
                pid
                for name in (PRODUCT_LOCATION, BARE_LOCATION, BARE_FORKED_LOCATION)
                for pid in grpc_roots(stack, name)
            ],
        )
        sampler.start()
        load_before = os.getloadavg()
        results = [
            run_mode(
                stack,
                mode,
                weeks,
                sampler,
                {"postgres": postgres_pid(root / "postgres"), "sandbox": sandbox_pid},
                args.settle,
            )
            for mode in selected
        ]
        sampler.stop()
        load_after = os.getloadavg()
        load = (
            f"{psutil.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
            f"{load_after[0]:.1f} after (1 min)"
        )
        print_results(results, args.weeks, args.latency, load)
        if args.profile_workers:
            profile_summary(args.profile_workers)
    finally:
        stack.stop()
    return 0


def _sandbox_pid(stack: Stack) -> int | None:
    import requests

    try:
        return int(requests.get(f"{stack.sandbox_url}/_sandbox/health", timeout=10).json()["pid"])
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
