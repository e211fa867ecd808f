"""Agency scale: a generated config of INSTANCES x REPORTS assets (two years of weeks each).

Measures, on the real deployment stack (embedded Postgres, the sandbox, `dagster api grpc`,
webserver, daemon: `amc_reports_tests.support.stack`, as the e2e test runs it):

- definitions load: a fresh `python -c "import amc_reports.definitions"` on the generated file
  (median of ROUNDS), split into Dagster's own import and our build of the Definitions;
- `dagster definitions validate -m amc_reports.definitions` (wall and CPU time), and what every
  run worker pays before its first step (load the code location, resolve the run's job);
- the code location: the stack up, and the code server's resident memory once loaded;
- the GraphQL asset catalog (the catalog page's own query, 1,000 assets a page) and one asset's
  partition status (its weeks by status), the first query and the median of the next 4;
- a backfill of BACKFILL_WEEKS weeks in all (BACKFILL_ASSETS assets of one report x weeks each)
  through `launchPartitionBackfill`, as the UI launches it: time until accepted, and until the
  daemon created its first run. The backfill is then cancelled (its runs are not the point);
- the CPU the deployment uses at rest (daemon: schedules, sensors, the weekly checks' automation
  condition; code server: sensor evaluations), over REST_SECONDS;
- resident memory of the code server, webserver and daemon at the end.

    .venv/bin/python bench/scale.py                      # 100 x 10, 1,000-week backfill
    .venv/bin/python bench/scale.py --instances 30 --reports 5 --backfill-weeks 300
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from config_load import generate  # noqa: E402

from amc_reports_tests.support.stack import Stack, wait_for  # noqa: E402

BIN = Path(sys.executable).parent
START = date(2024, 12, 1)  # the generated reports' start_date: two years of weekly partitions

LOAD_SCRIPT = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
import dagster
t1, c1 = time.perf_counter(), time.process_time()
import amc_reports.definitions as d
t2, c2 = time.perf_counter(), time.process_time()
n = len(d.defs.assets)
print(json.dumps({"dagster_import": t1 - t0, "definitions": t2 - t1, "assets": n,
                  "dagster_import_cpu": c1 - c0, "definitions_cpu": c2 - c1}))
"""
# What a run worker does before its first step: load the code location, resolve the job of the
# run (the implicit asset job, subset to the run's asset).
RUN_WORKER_SCRIPT = """
import json, time
c0 = time.process_time()
import dagster as dg
import amc_reports.definitions as d
c1 = time.process_time()
job = d.defs.resolve_implicit_global_asset_job_def().get_subset(
    asset_selection={dg.AssetKey(["amc", "adv_000", "report_00"])}
)
c2 = time.process_time()
print(json.dumps({"load_cpu": c1 - c0, "job_cpu": c2 - c1}))
"""
KEYS = (
    "dagster_import",
    "definitions",
    "dagster_import_cpu",
    "definitions_cpu",
    "process",
    "assets",
)

# The asset catalog page's query (AssetCatalogTableQuery with the fields of its
# AssetBaseNodeFragment and AssetNodeRepositoryFragment, as dagster-webserver 1.13 sends them).
CATALOG = """
query AssetCatalogTableQuery($cursor: String, $limit: Int!) {
  assetsOrError(cursor: $cursor, limit: $limit) {
    ... on AssetConnection {
      nodes {
        id
        key { path }
        definition {
          id changedReasons groupName opNames isMaterializable isObservable isExecutable
          isPartitioned isAutoCreatedStub hasAssetChecks computeKind hasMaterializePermission
          hasWipePermission hasReportRunlessAssetEventPermission
          assetKey { path }
          internalFreshnessPolicy { __typename }
          partitionDefinition { dimensionTypes { type dynamicPartitionsDefinitionName } }
          automationCondition { __typename }
          description(characterLimit: 240)
          owners { ... on UserAssetOwner { email } ... on TeamAssetOwner { team } }
          tags { key value }
          storageAddress { storageKind tableName }
          jobNames kinds
          repository { id name location { id name } }
        }
      }
      cursor
    }
  }
}
"""

PARTITION_STATUS = """
query PartitionStatus($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      partitionStats { numMaterialized numMaterializing numPartitions numFailed }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
      }
    }
  }
}
"""

LOCATION = """
query Location {
  workspaceOrError {
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename } }
    }
  }
}
"""

SENSOR_TICKS = """
query Ticks($sensor: SensorSelector!) {
  sensorOrError(sensorSelector: $sensor) {
    ... on Sensor { sensorState { ticks(limit: 10) { status timestamp endTimestamp } } }
  }
}
"""

CANCEL = """
mutation Cancel($backfillId: String!) {
  cancelPartitionBackfill(backfillId: $backfillId) { __typename }
}
"""

FIRST_RUN = """
query FirstRun($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill { status runs(limit: 1) { runId } }
  }
}
"""


def env_for(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")}
    env["AMC_REPORTS_CONFIG"] = str(config)
    return env


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def definitions_load(config: Path, rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT],
            env=env_for(config),
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        samples.append({**json.loads(out.stdout.strip().splitlines()[-1]), "process": wall})
    return {key: statistics.median(s[key] for s in samples) for key in KEYS}


def validate(config: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `dagster definitions validate`."""
    argv = [str(BIN / "dagster"), "definitions", "validate", "-m", "amc_reports.definitions"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(lambda: subprocess.run(argv, env=env_for(config), check=True, capture_output=True))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_and_median(action, repeats: int = 4) -> tuple[float, float]:
    first = timed(action)
    return first, statistics.median(timed(action) for _ in range(repeats))


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def webserver_cpu(stack: Stack, action, repeats: int = 3) -> float:
    """Median CPU seconds the webserver spends on `action` (what the wall time is without the
    other processes of a shared machine)."""
    pid = stack.processes["webserver"].pid
    samples = []
    for _ in range(repeats):
        before = cpu_seconds(pid)
        action()
        samples.append(cpu_seconds(pid) - before)
    return statistics.median(samples)


def rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


# The sensors whose ticks are timed (absent ones are reported as such).
SENSORS = ("amc_weekly_checks", "amc_notifications")


def tick_durations(stack: Stack, sensor: str) -> str:
    selector = {
        "repositoryName": "__repository__",
        "repositoryLocationName": "amc_reports",
        "sensorName": sensor,
    }
    found = stack.graphql(SENSOR_TICKS, {"sensor": selector})["sensorOrError"]
    if "sensorState" not in found:
        return "not defined"
    ticks = found["sensorState"]["ticks"]
    done = [t["endTimestamp"] - t["timestamp"] for t in ticks if t["endTimestamp"]]
    running = sum(1 for t in ticks if not t["endTimestamp"])
    durations = ", ".join(f"{d:.1f}" for d in reversed(done)) or "none finished"
    return f"{len(done)} tick(s) finished, in {durations} s" + (
        f"; {running} running" if running else ""
    )


def location_loaded(stack: Stack) -> bool:
    entries = stack.graphql(LOCATION)["workspaceOrError"]["locationEntries"]
    return all(
        e["loadStatus"] == "LOADED"
        and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backfill-assets", type=int, default=10)
    parser.add_argument("--backfill-weeks", type=int, default=1000, help="weeks in all")
    parser.add_argument("--rest-seconds", type=float, default=120, help="idle CPU sample")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="amc_scale_"))
    config = generate(root, "fanout", args.instances, args.reports)
    weeks_per_asset = args.backfill_weeks // args.backfill_assets
    print(
        f"config: {args.instances} instances x {args.reports} reports, weeks from {START} "
        f"({((date.today() - START).days // 7)} weeks each); load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )

    load = definitions_load(config, args.rounds)
    print(
        f"definitions load (median of {args.rounds}): {load['process']:.2f} s per process, of "
        f"which import dagster {load['dagster_import']:.2f} s "
        f"(CPU {load['dagster_import_cpu']:.2f} s), import amc_reports.definitions "
        f"{load['definitions']:.2f} s (CPU {load['definitions_cpu']:.2f} s; "
        f"{int(load['assets'])} assets)"
    )
    wall, cpu = validate(config)
    print(f"dagster definitions validate: {wall:.2f} s (CPU {cpu:.2f} s)")
    worker = json.loads(
        subprocess.run(
            [sys.executable, "-c", RUN_WORKER_SCRIPT],
            env=env_for(config),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
    )
    print(
        f"a run worker before its first step: CPU {worker['load_cpu']:.2f} s to load the code "
        f"location, {worker['job_cpu']:.2f} s to resolve its job"
    )

    stack = Stack(root / "stack", reports_config=config)
    try:
        up = timed(stack.start)
        loaded = timed(lambda: wait_for(lambda: location_loaded(stack), "the location", 300))
        grpc = stack.processes["grpc"].pid
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stack.timings.items())
        print(
            f"stack up in {up:.1f} s ({phases}); location loaded in the webserver "
            f"{loaded:.1f} s later; code server RSS {rss_mib(grpc):.0f} MiB"
        )

        names = ("grpc", "webserver", "daemon")
        before = {n: cpu_seconds(stack.processes[n].pid) for n in names}
        time.sleep(args.rest_seconds)
        rest = ", ".join(
            f"{n} {(cpu_seconds(stack.processes[n].pid) - before[n]) / args.rest_seconds:.0%}"
            for n in names
        )
        print(
            f"at rest over {args.rest_seconds:.0f} s (sensors, schedules), CPU of one core: {rest}"
        )
        for sensor in SENSORS:
            print(f"  sensor {sensor}: {tick_durations(stack, sensor)}")

        page = {"cursor": None, "limit": 1000}
        catalog = first_and_median(lambda: stack.graphql(CATALOG, page))
        nodes = len(stack.graphql(CATALOG, page)["assetsOrError"]["nodes"])
        cpu = webserver_cpu(stack, lambda: stack.graphql(CATALOG, page))
        print(
            f"asset catalog ({nodes} assets): first {catalog[0]:.2f} s, then median "
            f"{catalog[1]:.2f} s (webserver CPU {cpu:.2f} s per query)"
        )
        key = {"path": ["amc", "adv_000", "report_00"]}
        status = first_and_median(lambda: stack.graphql(PARTITION_STATUS, {"assetKey": key}))
        stats = stack.graphql(PARTITION_STATUS, {"assetKey": key})["assetNodeOrError"]
        cpu = webserver_cpu(stack, lambda: stack.graphql(PARTITION_STATUS, {"assetKey": key}))
        print(
            f"one asset's partition status ({stats['partitionStats']['numPartitions']} weeks): "
            f"first {status[0]:.2f} s, then median {status[1]:.2f} s (webserver CPU {cpu:.2f} s)"
        )

        paths = [["amc", f"adv_{i:03d}", "report_00"] for i in range(args.backfill_assets)]
        end = START + timedelta(weeks=weeks_per_asset - 1)
        backfill_id: list[str] = []
        accepted = timed(
            lambda: backfill_id.append(
                stack.launch_backfill(paths, START.isoformat(), end.isoformat())
            )
        )
        print(
            f"backfill of {len(paths)} assets x {weeks_per_asset} weeks = "
            f"{len(paths) * weeks_per_asset} weeks: accepted in {accepted:.2f} s"
        )
        started = time.perf_counter()
        try:
            wait_for(
                lambda: stack.graphql(FIRST_RUN, {"backfillId": backfill_id[0]})[
                    "partitionBackfillOrError"
                ]["runs"],
                "the backfill's first run",
                timeout=300,
                interval=0.5,
            )
            print(f"  the daemon created its first run {time.perf_counter() - started:.1f} s later")
        finally:
            stack.graphql(CANCEL, {"backfillId": backfill_id[0]})
        memory = ", ".join(
            f"{name} {rss_mib(stack.processes[name].pid):.0f} MiB"
            for name in ("grpc", "webserver", "daemon")
        )
        print(f"resident memory at the end: {memory}")
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        stack.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    main()
