"""Life cycle over real time: at most 10 RUNNING per instance, first come first served."""

from __future__ import annotations

import time

from amc_reports.local.sandbox.lifecycle import compute_schedule, max_concurrency
from amc_reports.local.sandbox.state import Execution
from amc_reports_tests.amc_tests.helpers import INSTANCE, create


def test_at_most_ten_running_per_instance(amc_client, sandbox):
    sandbox.set_config({"queue_seconds": 0.05, "run_seconds": 2.5})
    ids = [create(amc_client).execution_id for _ in range(25)]
    other = create(amc_client, instance="amcother01").execution_id  # its own 10 slots

    peak_seen = 0
    deadline = time.monotonic() + 90
    while True:
        records = list(amc_client.list_executions(INSTANCE))
        running = sum(1 for r in records if r.status in ("RUNNING", "PUBLISHING"))
        peak_seen = max(peak_seen, running)
        assert running <= 10
        if all(r.is_terminal for r in records):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert all(r.status == "SUCCEEDED" for r in records)
    stats = sandbox.stats()
    assert stats["max_running_per_instance"][INSTANCE] == 10
    assert stats["max_in_flight_per_instance"][INSTANCE] == 25
    assert peak_seen >= 1
    # First come, first served: start times follow creation order.
    seen = [e for e in sandbox.executions(INSTANCE)]
    assert [e["execution_id"] for e in seen] == ids
    starts = [e["started_at"] for e in seen]
    assert starts == sorted(starts)
    # The other instance was not held back by this one's queue.
    first_other = next(e for e in sandbox.executions("amcother01") if e["execution_id"] == other)
    assert first_other["started_at"] - first_other["created_at"] < 1.0


def _execution(seq: int, created: float, queue: float = 0.0, run: float = 10.0, **kw) -> Execution:
    return Execution(
        id=f"e{seq}",
        instance_id="i",
        seq=seq,
        created_at=created,
        workflow_id="w",
        transient=True,
        sql="SELECT 1 AS a FROM t",
        window_type="EXPLICIT",
        window_start="2024-01-01T00:00:00",
        window_end="2024-01-08T00:00:00",
        time_zone="UTC",
        queue_s=queue,
        run_s=run,
        publish_s=0.0,
        **kw,
    )


def test_schedule_queues_beyond_the_cap_and_frees_slots_on_cancel():
    executions = [_execution(i, created=float(i) / 100) for i in range(12)]
    schedule = compute_schedule(executions, max_running=10)
    assert all(schedule[f"e{i}"].start == i / 100 for i in range(10))
    assert schedule["e10"].start == schedule["e0"].end  # waits for the first slot
    assert schedule["e11"].start == schedule["e1"].end

    executions[0].cancel_time = 5.0  # cancelling a RUNNING one frees its slot at once
    executions[11].cancel_time = 1.0  # cancelled while PENDING: never takes a slot
    schedule = compute_schedule(executions, max_running=10)
    assert schedule["e0"].final == "CANCELLED" and schedule["e0"].end == 5.0
    assert schedule["e10"].start == 5.0
    assert schedule["e11"].start is None and schedule["e11"].final == "CANCELLED"
    intervals = [(s.start, s.end) for s in schedule.values() if s.start is not None]
    assert max_concurrency(intervals) == 10


def test_rejected_never_takes_a_slot():
    executions = [_execution(0, 0.0, outcome="REJECTED"), _execution(1, 0.0)]
    schedule = compute_schedule(executions, max_running=1)
    assert schedule["e0"].final == "REJECTED" and schedule["e0"].start is None
    assert schedule["e1"].start == 0.0
