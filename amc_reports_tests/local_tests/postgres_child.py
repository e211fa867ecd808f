"""A process that uses the embedded PostgreSQL like a Dagster run worker would (driven by a test).

Prints `url <URL>` and `started <postmaster start time>`, then for each line on stdin runs a query
and prints `ok <start time>`; exits at EOF.
"""

from __future__ import annotations

import sys

from amc_reports.environment import build_warehouse_resource, resolved


def main() -> int:
    warehouse = resolved(build_warehouse_resource()).get_warehouse()
    with warehouse.connect() as conn:
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    print(f"url {warehouse.database_url}", flush=True)
    print(f"started {started.isoformat()}", flush=True)
    for _ in sys.stdin:
        with warehouse.connect() as conn:
            started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        print(f"ok {started.isoformat()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
