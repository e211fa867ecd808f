"""Pool limits: AMC's 10 running executions per instance, plus weeks queued ahead at AMC within the
account's 200 (`amc_reports.orchestration.pools`)."""

from __future__ import annotations

import pytest

from amc_reports.config import load_config
from amc_reports.orchestration.pools import pool_limits


def config(tmp_path, instances: dict[str, str], batch: dict[str, int] | None = None, idle=()):
    """Instances alias -> advertiser; one report per instance (none for `idle` ones)."""
    lines = ["instances:"]
    for alias, advertiser in instances.items():
        lines.append(
            f"  {alias}: {{instance_id: i{alias}, advertiser_id: {advertiser}, marketplace_id: M}}"
        )
    lines.append("reports:")
    for alias in instances:
        if alias in idle:
            continue
        lines += [
            f"  r_{alias}:",
            f"    instance: {alias}",
            "    sql: SELECT 1 AS a",
            "    start_date: 2026-03-01",
            f"    backfill_weeks_per_run: {(batch or {}).get(alias, 1)}",
        ]
    path = tmp_path / "reports.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def test_an_instance_admits_amcs_ten_plus_the_weeks_queued_ahead(tmp_path):
    limits = pool_limits(config(tmp_path, {"us": "E1"}))
    assert (limits["us"].pool, limits["us"].runs, limits["us"].queue_ahead) == ("amc_us", 20, 10)
    assert pool_limits(config(tmp_path, {"us": "E1"}), queue_ahead=3)["us"].runs == 13
    assert pool_limits(config(tmp_path, {"us": "E1"}), queue_ahead=0)["us"].runs == 10


def test_batched_instances_admit_runs_of_n_weeks(tmp_path):
    limits = pool_limits(config(tmp_path, {"us": "E1", "eu": "E2"}, batch={"eu": 10}))
    assert (limits["eu"].runs, limits["eu"].weeks_in_flight) == (2, 20)
    # Whole runs only: 7 weeks per run fit once in AMC's 10 (never more weeks than allowed).
    odd = pool_limits(config(tmp_path, {"eu": "E2"}, batch={"eu": 7}), queue_ahead=0)
    assert (odd["eu"].runs, odd["eu"].weeks_in_flight) == (1, 7)


def test_the_queue_ahead_stays_within_the_accounts_200(tmp_path):
    fifteen = {f"a{i}": "E1" for i in range(15)}
    limits = pool_limits(config(tmp_path, {**fifteen, "other": "E2"}))
    # 15 instances of one account: 150 running, 50 to share: 3 queued ahead each (195 <= 200).
    assert {limits[a].runs for a in fifteen} == {13}
    assert sum(limits[a].weeks_in_flight for a in fifteen) <= 200
    assert limits["other"].runs == 20  # another account has its own 200
    twenty_five = {f"b{i}": "E3" for i in range(25)}
    crowded = pool_limits(config(tmp_path, twenty_five))
    # AMC's own 10 per instance is kept even when the account is full: AMC queues the rest.
    assert {limit.runs for limit in crowded.values()} == {10}


def test_instances_without_reports_do_not_use_the_accounts_headroom(tmp_path):
    instances = {f"a{i}": "E1" for i in range(15)}
    idle = [f"a{i}" for i in range(1, 15)]
    limits = pool_limits(config(tmp_path, instances, idle=idle))
    assert limits["a0"].runs == 20


def test_a_negative_queue_ahead_is_refused(tmp_path):
    with pytest.raises(ValueError, match="queue_ahead must be 0 or more weeks, got -1"):
        pool_limits(config(tmp_path, {"us": "E1"}), queue_ahead=-1)
