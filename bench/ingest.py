"""Ingest benchmark: `Warehouse.load_week` vs `psql \\copy` vs `pandas.DataFrame.to_sql`.

    .venv/bin/python bench/ingest.py                    # 1,000,000 rows, 5 rounds
    .venv/bin/python bench/ingest.py --rows 100000      # the memory-flatness comparison

Makes a CSV of N rows shaped like an AMC result (ids, dates, timestamps, counts with blanks, money,
text with commas and quotes, a boolean) in a temp folder, then, over several rounds with the order
of the methods rotated each round, times:

- `replace`: `Warehouse.load_week` of the week into its report table (the week has no
  rows before each round: a first collection), streaming the file: the week's partition filled
  and attached, the week and its version recorded (a first collection is not summed: nothing to
  compare it with);
- `recollect`: the same CSV again, the week already loaded: also the old partition moved to
  history and what changed (an unchanged result is known by its checksum: no row is compared;
  after the commit, the version it replaced, a first collection, is summed once, and those sums
  are also its own);
- `restate`: the same, the week holding the CSV, with a changed CSV of as many rows (1 % of the
  rows with another impression count, 0.1 % with another campaign id: removed and added): what
  a re-collection whose numbers moved costs (after it commits: the sums of both versions, and
  the rows added, removed and changed by the key columns, whose cost is reported on its own as
  `key_diff`);
- `copy_bare`: `psql \\copy` into a fresh table of the CSV columns only (no lineage columns, no
  index, emptied before each round): the floor for the same data;
- `to_sql`: `pandas.read_csv` + `DataFrame.to_sql` (SQLAlchemy + psycopg), the naive way; by default
  only on the first `--to-sql-rounds` rounds because it is slow.

Each measurement runs in its own child process, which reports the wall time of the operation (for
`Warehouse.load_week` also `committed`: until its transaction committed, `LoadResult.seconds`; the
rest is the key comparison and retention after the commit) and its peak RSS
(`resource.getrusage`; for psql, the psql process). A CHECKPOINT precedes every measurement.
Uses `AMC_REPORTS_DATABASE_URL` (a scratch database is created and dropped on that server) or an
embedded PostgreSQL in a temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from amc_reports.warehouse import Submission, Warehouse, WeekKey  # noqa: E402
from amc_reports.warehouse.identifiers import LINEAGE_COLUMNS  # noqa: E402
from amc_reports_tests.support.warehouse import with_database  # noqa: E402

REPORT = "bench_report"
INSTANCE = "bench"
WEEK = date(2024, 1, 7)
BARE_TABLE = "bench_copy_bare"
TO_SQL_TABLE = "bench_to_sql"
PSQL = shutil.which("psql") or "/usr/bin/psql"
HEADER = [
    "campaign_id",
    "campaign",
    "ad_product_type",
    "event_date",
    "first_seen",
    "impressions",
    "clicks",
    "purchases",
    "spend",
    "sales",
    "user_count",
    "is_new_to_brand",
]


def generate_csv(path: Path, rows: int, seed: int = 7, *, restated: bool = False) -> None:
    """The result CSV; `restated`: the same draws, 1 % of the impression counts and 0.1 % of the
    campaign ids changed (see `restate`)."""
    rng = random.Random(seed)
    products = ["sponsored_products", "sponsored_brands", "sponsored_display", "dsp"]
    campaigns = [f"Campaign {i}" for i in range(2_000)] + [
        f'Brand "{i}", Holiday' for i in range(200)
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        lines = []
        for i in range(rows):
            day = WEEK + timedelta(days=i % 7)
            seen = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60))
            name = rng.choice(campaigns)
            if '"' in name or "," in name:
                name = '"' + name.replace('"', '""') + '"'
            impressions = rng.randrange(1, 1_000_000)
            clicks = rng.randrange(0, impressions // 50 + 1)
            shown = impressions + 1 if restated and i % 100 == 7 else impressions
            campaign_id = rng.randrange(10**11, 10**12)
            if restated and i % 1000 == 3:
                campaign_id += 1
            purchases = "" if rng.random() < 0.3 else str(rng.randrange(0, clicks + 1))
            lines.append(
                f"{campaign_id},{name},{rng.choice(products)},{day},"
                f"{seen:%Y-%m-%d %H:%M:%S},{shown},{clicks},{purchases},"
                f"{rng.random() * 500:.2f},{rng.random() * 2000:.2f},{rng.randrange(1, 50_000)},"
                f"{'true' if rng.random() < 0.4 else 'false'}\n"
            )
            if len(lines) >= 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


# -- child: one measurement ------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    extra: dict[str, float] = {}
    if args.child in ("replace", "recollect", "restate"):
        warehouse = Warehouse(args.url)
        with open(args.csv, "rb") as stream:
            started = time.perf_counter()
            cpu_started = time.process_time()
            result = warehouse.load_week(
                WeekKey(REPORT, INSTANCE, WEEK),
                uuid.UUID(args.execution_id),
                stream,
                amc_execution_id=f"bench-{args.execution_id[:8]}",
            )
        seconds = time.perf_counter() - started
        extra["client_cpu_seconds"] = time.process_time() - cpu_started
        rows = result.record_count
        extra["committed_seconds"] = result.seconds
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        version = warehouse.get_version(uuid.UUID(args.execution_id))
        if version is not None and version.restatement:
            extra["key_diff_seconds"] = version.restatement.get("key_diff_seconds") or 0.0
    elif args.child == "copy_bare":
        table = BARE_TABLE
        columns = ", ".join(HEADER)
        typed = ", ".join(h for h in HEADER if h not in ("campaign", "ad_product_type"))
        commands = [
            f"\\copy amc_results.{table} ({columns}) FROM '{args.csv}'"
            f" WITH (FORMAT csv, HEADER true, ENCODING 'UTF8', FORCE_NULL ({typed}))",
        ]
        argv = [PSQL, args.url, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for command in commands:
            argv += ["-c", command]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        psql = resource.getrusage(resource.RUSAGE_CHILDREN)
        extra["client_cpu_seconds"] = psql.ru_utime + psql.ru_stime
        if done.returncode != 0:
            raise SystemExit(f"psql failed: {done.stderr}")
        with psycopg.connect(args.url) as conn:
            rows = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("amc_results", table))
            ).fetchone()[0]
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    elif args.child == "to_sql":
        import pandas as pd
        from sqlalchemy import create_engine

        engine = create_engine(args.url.replace("postgresql://", "postgresql+psycopg://", 1))
        started = time.perf_counter()
        frame = pd.read_csv(args.csv)
        frame.to_sql(TO_SQL_TABLE, engine, schema="amc_results", if_exists="replace", index=False)
        seconds = time.perf_counter() - started
        rows = len(frame)
        engine.dispose()
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        raise SystemExit(f"unknown method {args.child}")
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_kb / 1024, **extra}))
    return 0


# -- parent: set up, alternate, summarise ----------------------------------------------------------


def postmaster_pid(url: str) -> int | None:
    """The server's postmaster, when it runs on this machine (else None: no server CPU)."""
    with psycopg.connect(url) as conn:  # the backend is read while it runs
        stat = Path(f"/proc/{conn.info.backend_pid}/stat")
        try:
            return int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


def server_cpu_seconds(postmaster: int | None) -> float | None:
    """CPU time of the server's processes: the postmaster with its ended children (cutime,
    cstime), and those running (backends, parallel workers, WAL writer, checkpointer...)."""
    if postmaster is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        if pid == postmaster:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure(
    method: str, url: str, csv_path: Path, execution_id: uuid.UUID, postmaster: int | None = None
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--url",
        url,
        "--csv",
        str(csv_path),
        "--execution-id",
        str(execution_id),
    ]
    server_before = server_cpu_seconds(postmaster)
    done = subprocess.run(command, capture_output=True, text=True)
    server_after = server_cpu_seconds(postmaster)
    if done.returncode != 0:
        raise SystemExit(f"{method} failed:\n{done.stderr}")
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    if server_before is not None and server_after is not None:
        sample["server_cpu_seconds"] = server_after - server_before
    return sample


def reset(url: str, method: str, warehouse: Warehouse) -> uuid.UUID:
    """Give `method` an empty target (except for `recollect`, `restate`: the week loaded),
    vacuum, checkpoint, and give an execution."""
    execution_id = warehouse.life.record_submission(
        WeekKey(REPORT, INSTANCE, WEEK),
        Submission(
            amc_instance_id="bench",
            time_window_start=datetime(2024, 1, 7),
            time_window_end=datetime(2024, 1, 14),
            time_zone="UTC",
            sql_hash="bench",
            parameters={},
        ),
        run_id=None,
    )
    warehouse.life.progress(execution_id, "SUCCEEDED")
    set_aside = f"set_aside_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        # Tables are set aside, not dropped or truncated: freeing hundreds of MB (on a disk
        # mounted with `discard`) slows whatever runs next, and that is not the method's cost.
        # The scratch database is dropped at the end.
        if method == "replace":
            # The week has no rows: set its partition aside, forget its versions and row.
            for version in warehouse.list_versions(REPORT):
                if version.state == "current":
                    conn.execute(
                        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                            sql.Identifier(version.table_schema, REPORT),
                            sql.Identifier(version.table_schema, version.table_name),
                        )
                    )
                    conn.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            sql.Identifier(version.table_schema, version.table_name),
                            sql.Identifier(set_aside),
                        )
                    )
            conn.execute("DELETE FROM week_versions WHERE report = %s", (REPORT,))
            conn.execute("DELETE FROM report_data_weeks WHERE report = %s", (REPORT,))
        elif method == "copy_bare":
            bare = sql.Identifier("amc_results", BARE_TABLE)
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(bare, sql.Identifier(set_aside))
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {})").format(
                    bare, sql.Identifier("amc_results", set_aside)
                )
            )
        elif method == "to_sql":
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier("amc_results", TO_SQL_TABLE)
                )
            )
        conn.execute("VACUUM ANALYZE")  # nothing left for autovacuum to do while measuring
        conn.execute("CHECKPOINT")
    return execution_id


def prepare(url: str, warehouse: Warehouse, csv_path: Path) -> None:
    """Create the report table (one small load), then the identical and the bare copy tables."""
    execution_id = reset(url, "replace", warehouse)
    with csv_path.open("rb") as stream:
        head = b"".join(stream.readline() for _ in range(2_000))
    warehouse.load_week(
        WeekKey(REPORT, INSTANCE, WEEK),
        execution_id,
        [head],
        amc_execution_id=f"bench-{execution_id.hex[:8]}",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        columns = [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in warehouse.table_columns(REPORT)
            if name not in LINEAGE_COLUMNS
        ]
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                sql.Identifier("amc_results", BARE_TABLE), sql.SQL(", ").join(columns)
            )
        )
    print("columns:", ", ".join(f"{n} {t}" for n, t in warehouse.table_columns(REPORT)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--to-sql-rounds",
        type=int,
        default=None,
        help="rounds that include to_sql (default: all below 500k rows, else 2; 0 = never)",
    )
    parser.add_argument(
        "--methods", default="replace,recollect,restate,copy_bare,to_sql", help="comma-separated"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--execution-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    to_sql_rounds = args.to_sql_rounds
    if to_sql_rounds is None:
        to_sql_rounds = args.rounds if args.rows < 500_000 else 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="amc_bench_"))
    server = None
    admin_url = os.environ.get("AMC_REPORTS_DATABASE_URL", "").strip()
    try:
        if not admin_url:
            from amc_reports.local.postgres import EmbeddedPostgres

            server = EmbeddedPostgres(workdir / "pg", idle_stop_seconds=-1)
            admin_url = server.uri()
        database = f"amc_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            version = conn.execute("SHOW server_version").fetchone()[0]
        url = with_database(admin_url, database)
        try:
            csv_path = workdir / "result.csv"
            started = time.perf_counter()
            generate_csv(csv_path, args.rows)
            restated_path = workdir / "restated.csv"
            if "restate" in methods:
                generate_csv(restated_path, args.rows, restated=True)
            size_mb = csv_path.stat().st_size / 1e6
            print(
                f"rows={args.rows:,} csv={size_mb:.1f} MB (generated in "
                f"{time.perf_counter() - started:.1f} s) rounds={args.rounds} "
                f"to_sql_rounds={to_sql_rounds} postgres={version} cpus={os.cpu_count()}"
            )
            warehouse = Warehouse(url)
            warehouse.migrate()
            prepare(url, warehouse, csv_path)
            postmaster = postmaster_pid(url)
            samples: dict[str, list[dict]] = {m: [] for m in methods}
            for round_no in range(args.rounds):
                order = methods[round_no % len(methods) :] + methods[: round_no % len(methods)]
                # `recollect` and `restate` need the week loaded: keep them right after `replace`.
                for follower in ("restate", "recollect"):
                    if follower in order and "replace" in order:
                        order.remove(follower)
                        order.insert(order.index("replace") + 1, follower)
                for method in order:
                    if method == "to_sql" and round_no >= to_sql_rounds:
                        continue
                    execution_id = reset(url, method, warehouse)
                    source = restated_path if method == "restate" else csv_path
                    sample = measure(method, url, source, execution_id, postmaster)
                    if sample["rows"] != args.rows:
                        raise SystemExit(f"{method} stored {sample['rows']} rows")
                    samples[method].append(sample)
                    committed = sample.get("committed_seconds")
                    print(
                        f"  round {round_no + 1} {method:<10} {sample['seconds']:7.2f} s "
                        + (f"(committed {committed:5.2f} s) " if committed is not None else "")
                        + f"{args.rows / sample['seconds']:>10,.0f} rows/s "
                        f"peak RSS {sample['peak_rss_mb']:6.0f} MB",
                        flush=True,
                    )
            summary = summarise(samples, args.rows)
            print_summary(summary, args.rows)
            if args.json:
                args.json.write_text(json.dumps({"rows": args.rows, "summary": summary}, indent=2))
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
    finally:
        if server is not None:
            server.release()
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def summarise(samples: dict[str, list[dict]], rows: int) -> dict[str, dict]:
    summary = {}
    for method, runs in samples.items():
        if not runs:
            continue
        seconds = statistics.median(r["seconds"] for r in runs)
        summary[method] = {
            "runs": len(runs),
            "median_seconds": round(seconds, 3),
            "median_key_diff_seconds": round(
                statistics.median(r.get("key_diff_seconds", 0.0) for r in runs), 3
            ),
            "median_committed_seconds": (
                round(statistics.median(r["committed_seconds"] for r in runs), 3)
                if all("committed_seconds" in r for r in runs)
                else None
            ),
            "rows_per_second": round(rows / seconds),
            "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
            "all_seconds": [round(r["seconds"], 3) for r in runs],
        }
        for cpu in ("server_cpu_seconds", "client_cpu_seconds"):
            if all(cpu in r for r in runs):
                summary[method][f"median_{cpu}"] = round(statistics.median(r[cpu] for r in runs), 3)
    for reference in ("copy_bare", "replace"):
        if reference in summary:
            base = summary[reference]["rows_per_second"]
            for entry in summary.values():
                entry[f"vs_{reference}"] = round(entry["rows_per_second"] / base, 3)
    base = summary.get("replace", {}).get("median_committed_seconds")
    for entry in summary.values():  # until committed, against a first collection until committed
        if base and entry["median_committed_seconds"]:
            entry["committed_vs_replace"] = round(base / entry["median_committed_seconds"], 3)
    # Side by side: each round's ratio to the reference measured in the same round (the machine's
    # load changes less within a round than across rounds), then the median of those.
    for reference, field, name in (
        ("copy_bare", "seconds", "paired_vs_copy_bare"),
        ("replace", "seconds", "paired_vs_replace"),
        ("replace", "committed_seconds", "paired_committed_vs_replace"),
    ):
        for method, runs in samples.items():
            pairs = list(zip(samples.get(reference, []), runs, strict=False))
            if method in summary and pairs and all(field in r for pair in pairs for r in pair):
                summary[method][name] = round(
                    statistics.median(ref[field] / run[field] for ref, run in pairs), 3
                )
    # The work done, in CPU seconds (server and client): what the machine's load shifts least.
    if "median_server_cpu_seconds" in summary.get("copy_bare", {}):
        floor = summary["copy_bare"]
        floor_cpu = floor["median_server_cpu_seconds"] + floor["median_client_cpu_seconds"]
        for entry in summary.values():
            if "median_server_cpu_seconds" in entry and "median_client_cpu_seconds" in entry:
                cpu = entry["median_server_cpu_seconds"] + entry["median_client_cpu_seconds"]
                entry["cpu_vs_copy_bare"] = round(floor_cpu / cpu, 3) if cpu else None
    return summary


def print_summary(summary: dict[str, dict], rows: int) -> None:
    print(f"\nmedians over rounds, {rows:,} rows")
    titles = (
        "method", "runs", "seconds", "rows/s", "vs copy", "vs first", "committed", "vs first",
        "key diff", "peak RSS",
    )  # fmt: skip
    print("{:<10} {:>4} {:>8} {:>11} {:>8} {:>8} {:>9} {:>8} {:>9} {:>9}".format(*titles))
    nan = float("nan")
    for method, s in summary.items():
        print(
            f"{method:<10} {s['runs']:>4} {s['median_seconds']:>8.2f} {s['rows_per_second']:>11,} "
            f"{s.get('vs_copy_bare', nan):>8.2f} {s.get('vs_replace', nan):>8.2f} "
            f"{s['median_committed_seconds'] or nan:>7.2f} s "
            f"{s.get('committed_vs_replace', nan):>8.2f} "
            f"{s['median_key_diff_seconds']:>7.2f} s {s['peak_rss_mb']:>7.0f} MB"
        )
    print("\nside by side (median of each round's ratio) and CPU seconds (medians)")
    titles = ("method", "vs copy", "vs first", "committed vs first", "server CPU", "client CPU",
              "CPU vs copy")  # fmt: skip
    print("{:<10} {:>8} {:>8} {:>19} {:>10} {:>10} {:>11}".format(*titles))
    for method, s in summary.items():
        print(
            f"{method:<10} {s.get('paired_vs_copy_bare', nan):>8.2f} "
            f"{s.get('paired_vs_replace', nan):>8.2f} "
            f"{s.get('paired_committed_vs_replace', nan):>19.2f} "
            f"{s.get('median_server_cpu_seconds', nan):>8.2f} s "
            f"{s.get('median_client_cpu_seconds', nan):>8.2f} s "
            f"{s.get('cpu_vs_copy_bare', nan):>11.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
