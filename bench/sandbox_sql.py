"""Benchmark of the sandbox's offline AMC: synthetic data generation and the example reports' SQL.

1. Generation: the events of one instance-week at a realistic volume (``--impressions-per-day``,
   default 150,000: about 1.05 M impression events a week, plus their clicks, views and
   conversions), generated from scratch (no cache), in seconds.
2. Each example report of ``reports.yaml`` run on that week (parse, bind, load the week's events
   into DuckDB, run, threshold), with the data already generated (the sandbox keeps recent days
   in memory); reports reading conversions by conversion time also load the 14 days before.
3. ``amc-reports check-sql --all`` as an analyst runs it (default volume, a fresh process):
   the time per report it prints, and the command's wall time.

    .venv/bin/python bench/sandbox_sql.py
    .venv/bin/python bench/sandbox_sql.py --impressions-per-day 300000
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from amc_reports.config import load_config  # noqa: E402
from amc_reports.local.sandbox import query, world  # noqa: E402

INSTANCE = "amcbench01"
WEEK = date(2026, 3, 1)


def _generation(volume: int, repeats: int) -> tuple[float, int, int, int]:
    times = []
    for r in range(repeats):
        world.day_events.cache_clear()
        world.world.cache_clear()
        started = time.perf_counter()
        days = [
            world.day_events(f"{INSTANCE}{r}", volume, WEEK + timedelta(days=d)) for d in range(7)
        ]
        times.append(time.perf_counter() - started)
    impressions = sum(int((d.kind == world.IMPRESSION).sum()) for d in days)
    clicks = sum(int((d.kind == world.CLICK).sum()) for d in days)
    conversions = sum(len(d.traffic) for d in days)
    return statistics.median(times), impressions, clicks, conversions


def _reports(volume: int, repeats: int) -> dict[str, tuple[float, int]]:
    config = load_config(ROOT / "reports.yaml")
    window = query.Window.parse(f"{WEEK}T00:00:00", f"{WEEK + timedelta(days=7)}T00:00:00", "UTC")
    data = query.DataSettings(INSTANCE, volume, datetime(2026, 4, 1, tzinfo=UTC))
    for d in range(-14, 7):  # generate once, as a running sandbox would have
        world.day_events(INSTANCE, volume, WEEK + timedelta(days=d))
    out = {}
    for name, report in config.reports.items():
        if not report.sql:
            continue
        times = []
        rows = 0
        for _ in range(repeats):
            started = time.perf_counter()
            prepared = query.check(query.prepare(report.sql, window, dict(report.parameters)))
            rows = len(query.run(prepared, window, data).rows)
            times.append(time.perf_counter() - started)
        out[name] = (statistics.median(times), rows)
    return out


def _check_sql() -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "amc_reports.cli", "check-sql", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"check-sql failed:\n{done.stdout}\n{done.stderr}")
    per_report = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^amc/\w+/(\w+): ok, .* in ([\d.]+) s$", done.stdout, re.M)
    }
    return wall, per_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impressions-per-day", type=int, default=150_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    volume = args.impressions_per_day

    seconds, impressions, clicks, conversions = _generation(volume, args.repeats)
    print(
        f"generation, one instance-week: {impressions:,} impressions, {clicks:,} clicks, "
        f"{conversions:,} conversions in {seconds:.2f} s (median of {args.repeats})"
    )
    for name, (seconds, rows) in _reports(volume, args.repeats).items():
        print(f"report {name}: {seconds:.2f} s on that week, {rows} row(s)")
    wall, per_report = _check_sql()
    for name, seconds in per_report.items():
        print(f"check-sql {name}: {seconds:.2f} s")
    print(f"check-sql --all: {wall:.2f} s wall (a fresh process, imports included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
