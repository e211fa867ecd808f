"""Fault benchmark: a 20-week backfill under every AMC fault of issue 11, on the real deployment.

Starts the whole stack (embedded Postgres, the sandbox, `dagster api grpc`, webserver, daemon with
deploy/dagster.yaml: queued runs, a pool per AMC instance, run monitoring, run retries, the
reconciler sensor), arms the sandbox's fault switches for the report's AMC instance, launches a
backfill of W weeks through GraphQL, kills run workers mid-poll (SIGKILL), and waits until every
week is completed (or a deadline). Then it prints, per week, the AMC executions the sandbox ran
and what became of them, and:

- weeks completed (target W/W);
- AMC executions per week, and which of them AMC itself failed (FAILED, REJECTED, forgotten);
- weeks paid twice: more than one execution AMC ran that it did not fail itself (target: none);
- how the killed weeks were healed (a run retry, or a run the reconciler launched).

Faults (one-shot counters on the instance; `--scale` multiplies them): 429s, 500s, executions
that FAIL on AMC's side (retried with backoff), a REJECTED execution, creates answered without an
execution id, creates whose answer is cut after AMC created the execution, an execution AMC
forgets (404), expired download URLs, downloads answered 503, downloads cut mid-body, and run
workers killed while they poll. A Postgres outage in the middle of a load is not injected here
(Postgres also holds Dagster's own storage in this stack): `amc_reports_tests/dagster_tests/
test_self_healing.py` covers it.

    .venv/bin/python bench/faults.py                         # W=20, L=20 s, run retries on
    .venv/bin/python bench/faults.py --no-run-retries        # killed weeks healed by the reconciler
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amc_reports.run_launcher import run_worker_pid  # noqa: E402
from amc_reports.warehouse import Warehouse  # noqa: E402
from amc_reports_tests.support.stack import Stack  # noqa: E402

INSTANCE_ID = "amcfaults01"
REPORT = "campaign_weekly"
START = date(2026, 3, 1)

REPORTS_YAML = f"""
instances:
  us:
    instance_id: {INSTANCE_ID}
    advertiser_id: ENTITYFAULTS
    marketplace_id: ATVPDKIKX0DER
reports:
  {REPORT}:
    instance: us
    sql: SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks FROM t
    start_date: {START.isoformat()}
    owners: [team:bench]
    schedule: false
"""

# What AMC does to the report's instance: each counter fires on that many requests/executions.
# Armed at the start: faults of HTTP calls and downloads, and executions AMC fails.
FAULTS = {
    "throttle_next": 12,  # API calls answered 429 (Retry-After 1 s)
    "error_next": 8,  # API calls answered 500
    "fail_next": 2,  # executions that end FAILED with an internal error (AMC's side)
    "expired_urls_next": 2,  # download URLs already expired (403: fetched again)
    "download_error_next": 2,  # downloads answered 503 SlowDown
    "drop_connection_next": 2,  # downloads cut mid-body (resumed with a Range request)
}
# Armed one after the other, each once two more executions were created, so that they hit
# different executions (each counter applies to the next executions AMC creates).
STAGED = [
    ("reject_next", 1),  # an execution REJECTED (too many over the same data)
    ("missing_id_next", 2),  # creates answered without an execution id
    ("drop_create_next", 2),  # creates that start the execution, then cut the connection
    ("lose_next", 1),  # an execution AMC forgets (404 on every call)
]
AMC_FAILED = {"FAILED", "REJECTED"}


def wait_until(condition, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def week_of(execution: dict[str, Any]) -> date:
    return date.fromisoformat(execution["time_window_start"][:10])


class Faults:
    """The instance's fault counters: armed, and what is left of them (so fired = armed - left)."""

    def __init__(self, stack: Stack, armed: dict[str, int]) -> None:
        self.stack = stack
        self.armed = dict(armed)

    def remaining(self) -> dict[str, int]:
        config = requests.get(f"{self.stack.sandbox_url}/_sandbox/config", timeout=30).json()
        return dict(config["counters_remaining"].get(INSTANCE_ID, {}))

    def arm(self, key: str, count: int) -> None:
        """Arm one more counter (a PATCH arms only the counters it names)."""
        response = requests.patch(
            f"{self.stack.sandbox_url}/_sandbox/config",
            json={"instances": {INSTANCE_ID: {key: count}}},
            timeout=30,
        )
        response.raise_for_status()
        self.armed[key] = count

    def fired(self) -> dict[str, int]:
        left = self.remaining()
        return {key: n - left.get(key, 0) for key, n in self.armed.items()}


def created(stack: Stack) -> int:
    """Executions the sandbox created for the instance (those it forgot included)."""
    listed = [e for e in stack.sandbox_executions() if e["instance_id"] == INSTANCE_ID]
    return len(listed) + int(stack.sandbox_stats().get("executions_lost") or 0)


def arm_in_stages(stack: Stack, faults: Faults, stages: list[tuple[str, int]]) -> None:
    """Arm each staged fault once two more executions have been created since the last one."""
    mark = created(stack)
    for key, count in stages:
        if not count:
            continue
        wait_until(lambda mark=mark: created(stack) >= mark + 2, 900, interval=0.5)
        faults.arm(key, count)
        mark = created(stack)


def kill_workers(stack: Stack, warehouse: Warehouse, weeks: list[date], count: int) -> list[dict]:
    """SIGKILL the run workers of `count` weeks while they poll AMC (submitted, not finished),
    weeks whose execution AMC will run to success (so the kill is the only fault they see)."""
    instance = stack.instance()
    killed: list[dict] = []
    deadline = time.monotonic() + 600
    while len(killed) < count and time.monotonic() < deadline:
        planned = {e["execution_id"]: e["planned_outcome"] for e in stack.sandbox_executions()}
        for week in weeks:
            if len(killed) >= count or any(k["week"] == week for k in killed):
                continue
            row = warehouse.get_week(REPORT, week)
            if row is None or row.status != "running" or not row.amc_execution_id:
                continue
            execution = warehouse.get_execution(row.execution_id)
            if execution is None or execution.status not in ("PENDING", "RUNNING"):
                continue
            if planned.get(row.amc_execution_id) != "SUCCEEDED":
                continue
            pid = run_worker_pid(instance, row.dagster_run_id)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(
                {
                    "week": week,
                    "run_id": row.dagster_run_id,
                    "pid": pid,
                    "amc_execution_id": row.amc_execution_id,
                }
            )
            print(f"killed the run worker of week {week} (run {row.dagster_run_id[:8]}, pid {pid})")
        time.sleep(0.5)
    return killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=20, help="weeks W to backfill")
    parser.add_argument("--latency", type=float, default=20.0, help="AMC latency L in seconds")
    parser.add_argument("--pool", type=int, default=10, help="pool limit (AMC allows 10)")
    parser.add_argument("--kill", type=int, default=2, help="run workers killed mid-poll")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the fault counters")
    parser.add_argument(
        "--no-run-retries",
        action="store_true",
        help="launch the backfill with dagster/max_retries=0: killed weeks wait for the reconciler",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (s)")
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="amc-faults-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "reports.yaml").write_text(REPORTS_YAML)
    weeks = [START + timedelta(weeks=i) for i in range(args.weeks)]
    faults = {key: max(0, round(n * args.scale)) for key, n in FAULTS.items()}
    staged = [(key, max(0, round(n * args.scale))) for key, n in STAGED]
    settings = {
        "latency_seconds": args.latency,
        "queue_seconds": 0,
        "rows": 500,
        "retry_after_seconds": 1,
    }
    stack = Stack(
        root=root,
        pool_limit=args.pool,
        reports_config=root / "reports.yaml",
        sandbox_config={"instances": {INSTANCE_ID: {**settings, **faults}}},
        max_concurrent_runs=max(25, args.pool * 2),
        postgres_dir=root / "postgres",
    )
    print(f"starting the stack in {root} ...", flush=True)
    stack.start()
    try:
        warehouse = Warehouse(stack.warehouse_url)
        warehouse.migrate()  # (the first run would; the bench reads the tables from the start)
        tags = {"dagster/max_retries": "0"} if args.no_run_retries else None
        launched = time.time()
        backfill_id = stack.launch_backfill(
            [["amc", "us", REPORT]], weeks[0].isoformat(), weeks[-1].isoformat(), tags=tags
        )
        print(
            f"backfill {backfill_id}: {args.weeks} weeks, L={args.latency:.0f} s, faults "
            f"{faults}, then one by one {dict(staged)}, run retries "
            f"{'off' if args.no_run_retries else 'on'}",
            flush=True,
        )
        armed = Faults(stack, faults)
        stager = threading.Thread(target=arm_in_stages, args=(stack, armed, staged), daemon=True)
        stager.start()
        killed = kill_workers(stack, warehouse, weeks, args.kill)

        def all_completed() -> bool:
            rows = [warehouse.get_week(REPORT, week) for week in weeks]
            return all(row is not None and row.status == "completed" for row in rows)

        done = wait_until(all_completed, args.timeout, interval=2.0)
        wall = time.time() - launched

        rows = {week: warehouse.get_week(REPORT, week) for week in weeks}
        executions: dict[date, list[dict]] = {week: [] for week in weeks}
        for execution in stack.sandbox_executions():
            if execution["instance_id"] == INSTANCE_ID and week_of(execution) in executions:
                executions[week_of(execution)].append(execution)
        ours = {week: warehouse.list_executions(REPORT, week) for week in weeks}
        stats = stack.sandbox_stats()
        runs = stack.runs()

        print()
        print("week        status     AMC executions (status at AMC)          ours (our status)")
        paid_twice = []
        per_week = Counter()
        amc_failed = 0
        for week in weeks:
            ran = executions[week]
            statuses = [e["status"] for e in ran]
            lost = sum(1 for e in ours[week] if e.status == "LOST")
            failed_by_amc = sum(1 for s in statuses if s in AMC_FAILED) + lost
            amc_failed += failed_by_amc
            kept = [s for s in statuses if s not in AMC_FAILED]
            if len(kept) > 1:
                paid_twice.append(week)
            per_week[len(ran) + lost] += 1
            row = rows[week]
            mine = ", ".join(
                f"{e.status}{'/' + e.failure_kind if e.failure_kind else ''}" for e in ours[week]
            )
            shown = ", ".join(statuses) + (f", {lost} forgotten (404)" if lost else "")
            print(f"{week}  {row.status if row else '-':<9}  {shown:<38}  {mine}")

        healed = []
        for kill in killed:
            row = rows[kill["week"]]
            run = next((r for r in runs if r["runId"] == row.dagster_run_id), None)
            run_tags = {t["key"]: t["value"] for t in (run or {}).get("tags", [])}
            if run_tags.get("dagster/parent_run_id") == kill["run_id"]:
                how = "by a run retry"
            elif "reconciler" in run_tags.get("amc_reports/reason", ""):
                how = "by the reconciler's run"
            else:
                how = f"by run {row.dagster_run_id[:8]}"
            same = row.amc_execution_id == kill["amc_execution_id"]
            what = "the same AMC execution, resumed" if same else "a new AMC execution"
            healed.append(f"{kill['week']}: completed {how}, with {what}")

        completed = sum(1 for row in rows.values() if row and row.status == "completed")
        total = sum(len(v) for v in executions.values())
        lost_total = sum(1 for v in ours.values() for e in v if e.status == "LOST")
        print()
        print(
            f"weeks completed            {completed}/{args.weeks}"
            + ("" if done else " (timed out)")
        )
        print(f"wall time                  {wall:.0f} s (launch -> every week completed)")
        print(
            f"AMC executions             {total} run + {lost_total} forgotten by AMC; "
            f"{amc_failed} failed by AMC itself (FAILED, REJECTED, forgotten)"
        )
        print(
            "executions per week        "
            + ", ".join(f"{n} week(s) with {k}" for k, n in sorted(per_week.items()))
        )
        print(f"weeks paid twice           {len(paid_twice)} {paid_twice or ''}")
        outcomes = Counter(e["status"] for v in executions.values() for e in v)
        unnamed = sum(1 for v in executions.values() for e in v if not e["response_had_id"])
        print(f"faults that fired          {armed.fired()}")
        print(f"executions by AMC status   {dict(sorted(outcomes.items()))}")
        print(f"answered without an id     {unnamed} (AMC ran them; each adopted, not paid again)")
        print(f"killed run workers         {len(killed)}")
        for line in healed:
            print(f"  healed                   {line}")
        reconciler_runs = [
            r
            for r in runs
            if any(
                t["key"] == "amc_reports/reason" and "reconciler" in t["value"]
                for t in r.get("tags", [])
            )
        ]
        print(f"runs launched by reconciler {len(reconciler_runs)}")
        print(f"sandbox executions lost    {stats.get('executions_lost')}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
