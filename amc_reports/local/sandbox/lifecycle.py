"""Execution life cycle over real time, derived lazily from stored facts.

Each execution becomes ready ``queue_s`` after creation and then needs a RUNNING slot of its
instance (``max_running`` slots, 10 like AMC). Slots are handed out first come, first served in
creation order; an execution holds its slot for ``run_s`` (the last ``publish_s`` of it reported
as PUBLISHING). REJECTED executions never take a slot; a cancel frees the slot at the cancel time
(or, while PENDING, means it never takes one). Nothing runs in the background: the schedule of an
instance is recomputed from the facts when they change and read against the clock on each request.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from amc_reports.local.sandbox.state import Execution, Store


@dataclass(frozen=True)
class Slot:
    start: float | None  # when it started RUNNING (None: never ran)
    end: float  # when it reached its final status
    final: str  # SUCCEEDED | FAILED | REJECTED | CANCELLED
    failure_reason: str | None
    publish_s: float


@dataclass(frozen=True)
class Observed:
    status: str
    start: float | None
    end: float | None
    failure_reason: str | None


def compute_schedule(executions: list[Execution], max_running: int) -> dict[str, Slot]:
    """The start/end/final status of every execution of one instance."""
    out: dict[str, Slot] = {}
    heap: list[float] = []  # end times of the occupied slots
    for e in sorted(executions, key=lambda x: x.seq):
        ready = e.created_at + e.queue_s
        if e.outcome == "REJECTED":
            if e.cancel_time is not None and e.cancel_time < ready:
                out[e.id] = Slot(None, e.cancel_time, "CANCELLED", None, 0.0)
            else:
                out[e.id] = Slot(None, ready, "REJECTED", e.failure_reason, 0.0)
            continue
        free_at = heap[0] if len(heap) >= max_running else float("-inf")
        start = max(ready, free_at)
        if e.cancel_time is not None and e.cancel_time <= start:
            out[e.id] = Slot(None, e.cancel_time, "CANCELLED", None, 0.0)
            continue
        run = e.run_s
        final, reason = e.outcome, e.failure_reason
        if e.timeout_seconds and run > e.timeout_seconds:
            run = float(e.timeout_seconds)
            final = "FAILED"
            reason = f"Workflow execution timed out after {e.timeout_seconds} seconds"
        end = start + run
        if e.cancel_time is not None and e.cancel_time < end:
            end, final, reason = e.cancel_time, "CANCELLED", None
        if len(heap) >= max_running:
            heapq.heapreplace(heap, end)
        else:
            heapq.heappush(heap, end)
        publish = e.publish_s if final == "SUCCEEDED" else 0.0
        out[e.id] = Slot(start, end, final, reason, publish)
    return out


def observe(slot: Slot, now: float) -> Observed:
    """What an execution looks like at ``now``."""
    if now >= slot.end:
        return Observed(slot.final, slot.start, slot.end, slot.failure_reason)
    if slot.start is None or now < slot.start:
        return Observed("PENDING", None, None, None)
    if slot.publish_s > 0 and now >= slot.end - slot.publish_s:
        return Observed("PUBLISHING", slot.start, None, None)
    return Observed("RUNNING", slot.start, None, None)


class Scheduler:
    """Per-instance schedules, cached until that instance's facts change."""

    def __init__(self, store: Store, max_running_for) -> None:
        self._store = store
        self._max_running_for = max_running_for
        self._cache: dict[str, tuple[tuple[int, int], dict[str, Slot]]] = {}

    def schedule(self, instance_id: str) -> dict[str, Slot]:
        max_running = int(self._max_running_for(instance_id))
        key = (self._store.version.get(instance_id, 0), max_running)
        cached = self._cache.get(instance_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        schedule = compute_schedule(self._store.instance_executions(instance_id), max_running)
        self._cache[instance_id] = (key, schedule)
        return schedule

    def observe(self, execution: Execution, now: float) -> Observed:
        slot = self.schedule(execution.instance_id).get(execution.id)
        if slot is None:  # pragma: no cover - an execution always has a slot
            return Observed("PENDING", None, None, None)
        return observe(slot, now)

    def invalidate(self) -> None:
        self._cache.clear()


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    """Largest number of half-open intervals [start, end) that overlap at one instant."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        if end > start:
            events.append((start, 1))
            events.append((end, -1))
    events.sort(key=lambda ev: (ev[0], ev[1]))  # ends before starts at the same instant
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best
