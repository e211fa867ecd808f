"""The bare-Dagster anchor of `bench/backfill.py`: a weekly asset that only sleeps L.

Same partitions, same pool size and the same in-process executor as the product's assets, nothing
else: no resources, no checks, no AMC, no warehouse. A backfill of it measures what Dagster itself
costs per run on this deployment (daemon, launcher, run worker, event log), the floor under the
product's per-week runs. L comes from `AMC_BENCH_BARE_LATENCY` (seconds).

Served twice by the benchmark: by Dagster's own code server (`dagster api grpc -f`), and by
`amc-reports code-server -f` through `bare_forked_location.py` (another asset key and pool, so
both locations can be loaded together).
"""

import os
import time

import dagster as dg

BARE_POOL = "bench_bare"
BARE_FORKED_POOL = "bench_bare_forked"


def bare_definitions(name: str, pool: str) -> dg.Definitions:
    @dg.asset(
        key=["bench", name],
        partitions_def=dg.WeeklyPartitionsDefinition(start_date="2026-03-01"),
        pool=pool,
    )
    def bare_sleep() -> None:
        time.sleep(float(os.environ.get("AMC_BENCH_BARE_LATENCY", "60")))

    return dg.Definitions(assets=[bare_sleep], executor=dg.in_process_executor)


defs = bare_definitions("bare_sleep", BARE_POOL)
