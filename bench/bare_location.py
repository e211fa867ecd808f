"""The bare-Dagster anchor of `bench/backfill.py`: a weekly asset that only sleeps L.

Same partitions, same pool size and the same in-process executor as the product's assets, nothing
else: no resources, no checks, no AMC, no warehouse. A backfill of it measures what Dagster itself
costs per run on this deployment (daemon, launcher, run worker, event log), the floor under the
product's per-week runs. L comes from `AMC_BENCH_BARE_LATENCY` (seconds).
"""

import os
import time

import dagster as dg

BARE_POOL = "bench_bare"


@dg.asset(
    key=["bench", "bare_sleep"],
    partitions_def=dg.WeeklyPartitionsDefinition(start_date="2026-03-01"),
    pool=BARE_POOL,
)
def bare_sleep() -> None:
    time.sleep(float(os.environ.get("AMC_BENCH_BARE_LATENCY", "60")))


defs = dg.Definitions(assets=[bare_sleep], executor=dg.in_process_executor)
