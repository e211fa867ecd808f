"""The cursors of the sensors that follow ended runs: what they keep, and that anything else (a
cursor of another shape, an older one) starts them afresh or is read as it was meant."""

from __future__ import annotations

import json

import dagster as dg

from amc_reports.notify import AlertMemory
from amc_reports.notify.decide import MEMORY_SIZE
from amc_reports.orchestration.sensors import notifications, weekly_checks
from amc_reports.orchestration.sensors.ended_runs import EndedRuns

FAILURE, SUCCESS = dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS
CANCELED = dg.DagsterEventType.RUN_CANCELED
# The keys are the event types' values (Dagster's: PIPELINE_SUCCESS, ...).
F, S, C = FAILURE.value, SUCCESS.value, CANCELED.value


def test_ended_runs_need_a_position_for_each_ending_they_follow():
    endings = (SUCCESS, FAILURE)
    assert EndedRuns.from_json({S: "a"}, endings) is None
    assert EndedRuns.from_json({S: "a", F: 3}, endings) is None
    assert EndedRuns.from_json([1, 2], endings) is None
    ended = EndedRuns.from_json({S: "a", F: None, "x": 1}, endings)
    assert ended is not None and ended.to_json() == {S: "a", F: None}


def test_the_weekly_checks_cursor_round_trips_and_starts_afresh_on_anything_else():
    for text in (None, "", "not json", "[1, 2]", json.dumps({S: "abc"})):
        assert weekly_checks.parse_cursor(text) is None, text
    positions = {S: "abc", F: None, C: "x"}
    ended = weekly_checks.parse_cursor(json.dumps(positions))  # as it was written before, too
    assert ended is not None and ended.to_json() == positions
    assert json.loads(weekly_checks.dump_cursor(ended)) == positions


def test_the_notification_cursor_keeps_positions_and_what_was_sent():
    memory = AlertMemory()
    for i in range(MEMORY_SIZE + 10):
        memory.remember(f"k{i}")
    held = [notifications.HeldRun("r1", 1.5, None), notifications.HeldRun("r2", 2.0, "bf1")]
    cursor = notifications.NotificationCursor(
        EndedRuns((FAILURE, SUCCESS), {F: "f1", S: "s1"}), memory, held
    )
    again = notifications.NotificationCursor.parse(cursor.dump())
    assert again is not None
    assert again.held == held  # failed runs waiting for the reconciler or their backfill
    assert again.ended.to_json() == {F: "f1", S: "s1"}
    assert len(again.memory.keys) == MEMORY_SIZE and again.memory.seen(f"k{MEMORY_SIZE + 9}")
    for text in (None, "not json", "[1]", json.dumps({F: "f1", S: "s1"})):
        assert notifications.NotificationCursor.parse(text) is None, text


def test_a_notification_cursor_written_before_is_read_as_it_was_meant():
    older = json.dumps({"failure": "f1", "success": None, "sent": ["stale:amc/us/r:2026-03-01"]})
    cursor = notifications.NotificationCursor.parse(older)
    assert cursor is not None
    assert cursor.ended.to_json() == {F: "f1", S: None}
    assert cursor.memory.seen("stale:amc/us/r:2026-03-01")
