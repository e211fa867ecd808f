"""How long loading a reports file takes at agency scale, and how fast a hostile file is refused.

Generates (in a temp folder) a config of INSTANCES instances and REPORTS reports in two shapes:
`fanout` (each report `instances: all`, templated parameters: INSTANCES x REPORTS assets from
REPORTS entries) and `flat` (one entry per asset, as without fan-out), then times `load_config`
(best of ROUNDS, in this process after one warm-up) and the peak Python memory of one load. Also
times the refusal of a "billion laughs" file (9 ** 9 values once expanded).

    .venv/bin/python bench/config_load.py [--instances 100] [--reports 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from amc_reports.config import ConfigError, load_config


def instances_yaml(count: int) -> str:
    lines = ["instances:"]
    for i in range(count):
        lines += [
            f"  adv_{i:03d}:",
            f"    instance_id: amcbench{i:03d}",
            f"    advertiser_id: ENTITYBENCH{i:03d}",
            "    marketplace_id: ATVPDKIKX0DER",
            f"    tags: [{'us' if i % 2 else 'eu'}]",
            f"    parameters: {{brand_id: {i}, asins: [B{i:09d}]}}",
        ]
    return "\n".join(lines) + "\n"


def report_yaml(name: str, selection: str) -> str:
    return (
        f"  {name}:\n"
        f"    {selection}\n"
        "    sql: SELECT campaign_id, SUM(impressions) AS impressions FROM t GROUP BY 1\n"
        "    start_date: 2024-12-01\n"
        "    timezone: America/New_York\n"
        "    owners: [team:bench]\n"
        "    parameters:\n"
        '      since: "{{week_start - 28d}}"\n'
        '      brand: "{{instance.brand_id}}"\n'
    )


def generate(folder: Path, shape: str, instances: int, reports: int) -> Path:
    body = instances_yaml(instances) + "reports:\n"
    for r in range(reports):
        if shape == "fanout":
            body += report_yaml(f"report_{r:02d}", "instances: all")
        else:
            for i in range(instances):
                body += report_yaml(f"report_{r:02d}_{i:03d}", f"instance: adv_{i:03d}")
    path = folder / f"{shape}.yaml"
    path.write_text(body)
    return path


def best_of(rounds: int, action) -> float:
    action()  # warm-up: imports, time zone list
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for shape in ("fanout", "flat"):
            path = generate(folder, shape, args.instances, args.reports)
            seconds = best_of(args.rounds, lambda p=path: load_config(p))
            tracemalloc.start()
            config = load_config(path)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                f"{shape:6s}: {len(config.reports):5d} entries, {len(config.targets()):5d} assets, "
                f"{path.stat().st_size / 1024:7.1f} KiB: load {seconds * 1000:7.1f} ms, "
                f"peak {peak / 2**20:5.1f} MiB"
            )
        laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        for level in range(1, 9):
            previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
            laughs.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        bomb = folder / "laughs.yaml"
        bomb.write_text("\n".join(laughs) + "\n")

        def refuse() -> None:
            try:
                load_config(bomb)
            except ConfigError:
                return
            raise AssertionError("the billion laughs file was accepted")

        print(f"billion laughs refused in {best_of(args.rounds, refuse) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
