"""Notifications for real: Dagster runs (a failed week, a healed week, a backfill's failures, a
tripped circuit breaker, an ERROR check, a stale report), the notification sensor ticking, and a
local HTTP webhook receiving them."""

from __future__ import annotations

from datetime import date

import dagster as dg

from amc_reports.definitions import FRESHNESS_JOB
from amc_reports.orchestration.checks import FRESHNESS_CHECK, LINEAGE_CHECK
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import NotifierResource
from amc_reports.orchestration.sensors.notifications import build_alert_sensor

WEEK = "2026-03-08"
UI = "https://dagster.example.com"


class Sensor:
    """The notification sensor of a harness, ticked the way the daemon does (cursor kept)."""

    def __init__(self, harness, notifier: NotifierResource, heal_wait_seconds: float | None = 0):
        self.harness = harness
        self.notifier = notifier
        self.definition = build_alert_sensor(
            list(harness.config.targets()), heal_wait_seconds=heal_wait_seconds
        )
        self.cursor: str | None = None

    def tick(self) -> str:
        resources = {"notifier": self.notifier, "warehouse": self.harness.resources["warehouse"]}
        with dg.build_sensor_context(
            instance=self.harness.dagster, cursor=self.cursor, resources=resources
        ) as context:
            result = self.definition.evaluate_tick(context)
        assert not result.run_requests
        self.cursor = result.cursor
        return result.skip_message or ""


def test_a_failed_week_is_told_once_with_its_ids_and_run(harness, webhook):
    sensor = Sensor(harness, NotifierResource(urls=webhook.url("/hooks/S3cretT0ken1"), ui_url=UI))
    assert "Started" in sensor.tick()
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    result = harness.materialize(WEEK)
    assert not result.success

    assert "sent 1 notification" in sensor.tick()
    [message] = webhook.messages()
    row = harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))
    assert message.title == f"[amc_reports] weekly_perf on test: week {WEEK} failed"
    for expected in (
        f"AMC instance: test ({harness.instance_id})",
        f"execution_id: {row.execution_id}",
        f"amc_execution_id: {row.amc_execution_id}",
        "Column 'bogus' does not exist",
        f"Run: {UI}/runs/{result.run_id}",
    ):
        assert expected in message.message, expected
    assert row.amc_execution_id  # the ids are real ones

    assert "No run ended" in sensor.tick()  # the run is not told twice
    assert len(webhook.messages()) == 1


def test_a_circuit_breaker_is_told_in_its_backfills_digest(harness, webhook):
    """Stands in for the collection's circuit breaker: a failure carrying its failure kind, on
    the report's own asset key, in two runs of one backfill."""
    sensor = Sensor(harness, NotifierResource(urls=webhook.url()))
    sensor.tick()
    key = report_asset_key(harness.report)

    @dg.asset(key=key, partitions_def=weekly_partitions(harness.report))
    def tripped() -> None:
        raise dg.Failure(
            description="Circuit breaker: 3 consecutive weeks of weekly_perf failed with a query "
            "error; the first was 2026-03-01 (Column 'bogus' does not exist). Nothing submitted.",
            metadata={"amc_reports/failure_kind": "circuit_breaker"},
        )

    for week in ("2026-03-22", "2026-03-29"):
        run = dg.materialize(
            [tripped],
            partition_key=week,
            instance=harness.dagster,
            tags={"dagster/backfill": "bf-breaker"},
            raise_on_error=False,
        )
        assert not run.success
    sensor.tick()
    [message] = webhook.messages()
    assert "backfill bf-breaker: 2 week(s) failed" in message.title
    assert "circuit_breaker: 2 week(s), first 2026-03-22, 2026-03-29" in message.message
    assert "the first was 2026-03-01" in message.message


def test_a_backfills_failures_are_one_message_grouped_by_cause(harness, webhook):
    sensor = Sensor(harness, NotifierResource(urls=webhook.url(), ui_url=UI))
    sensor.tick()
    weeks = ["2026-03-01", "2026-03-08", "2026-03-15", "2026-03-22"]
    harness.set_faults(fail_next=len(weeks), failure_reason="Column 'bogus' does not exist")
    for week in weeks:
        assert not harness.materialize(week, tags={"dagster/backfill": "bf-digest"}).success

    assert "sent 1 notification" in sensor.tick()
    [message] = webhook.messages()
    assert message.title.startswith("[amc_reports] backfill bf-digest: 4 week(s) failed")
    assert f"Backfill: {UI}/runs/b/bf-digest" in message.message
    # The first failures are query errors; the breaker stops the weeks after them (one cause
    # each, with its count, first weeks and its own advice).
    assert "query_error: " in message.message and "first 2026-03-01" in message.message
    assert "Column 'bogus' does not exist" in message.message
    assert "This is a query error: it is not retried." in message.message
    assert "transient failure" not in message.message
    assert "No run ended" in sensor.tick()
    assert len(webhook.messages()) == 1


def test_a_failed_week_is_held_for_the_reconciler_and_not_told_once_healed(harness, webhook):
    notifier = NotifierResource(urls=webhook.url(), heal_wait_seconds=3600)
    waiting = Sensor(harness, notifier, heal_wait_seconds=None)  # the resource's wait
    waiting.tick()
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    assert not harness.materialize(WEEK).success
    assert "1 failed run(s) held" in waiting.tick()
    assert webhook.messages() == []

    # Within the wait, the week is collected by another run (what the reconciler launches).
    assert harness.materialize(WEEK).success
    due = Sensor(harness, NotifierResource(urls=webhook.url()))  # its wait is over
    due.cursor = waiting.cursor
    assert "sent 0 notification" in due.tick()
    assert webhook.messages() == []


def test_a_run_that_collects_weeks_does_not_judge_freshness(harness, webhook):
    """The UI's Materialize plans the asset's checks with it, the freshness check included: a
    historical week collected so is no stale report."""
    sensor = Sensor(harness, NotifierResource(urls=webhook.url()))
    sensor.tick()
    key = report_asset_key(harness.report)
    job = (
        harness.definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(
            asset_selection={key}, asset_check_selection={dg.AssetCheckKey(key, FRESHNESS_CHECK)}
        )
    )
    run = job.execute_in_process(partition_key="2026-03-01", instance=harness.dagster)
    assert run.success
    assert [e for e in run.get_asset_check_evaluations() if e.check_name == FRESHNESS_CHECK] == []
    sensor.tick()
    assert webhook.messages() == []
    # The daily job still judges it: the newest final week is not collected.
    freshness = harness.definitions().resolve_job_def(FRESHNESS_JOB)
    assert freshness.execute_in_process(instance=harness.dagster).success
    sensor.tick()
    [stale] = webhook.messages()
    assert "is stale" in stale.title


def test_an_error_check_and_a_stale_report_are_told(harness, webhook):
    sensor = Sensor(harness, NotifierResource(urls=webhook.url()))
    sensor.tick()
    assert harness.materialize(WEEK).success
    with harness.warehouse.connect() as conn:
        conn.execute(
            "UPDATE report_data_weeks SET amc_execution_id = 'tampered' "
            "WHERE report = %s AND week_start_date = %s",
            (harness.report.name, date.fromisoformat(WEEK)),
        )
    checks = harness.run_weekly_checks()
    assert not checks[(WEEK, LINEAGE_CHECK)].passed
    # The daily freshness job: the report's newest final week was never collected here.
    freshness = harness.definitions().resolve_job_def(FRESHNESS_JOB)
    assert freshness.execute_in_process(instance=harness.dagster).success

    sensor.tick()
    by_title = {m.title: m for m in webhook.messages()}
    [check] = [m for t, m in by_title.items() if "check lineage_complete failed" in t]
    assert f"for week {WEEK}" in check.title
    assert "amc_execution_id: tampered" in check.message
    [stale] = [m for t, m in by_title.items() if "is stale" in t]
    assert stale.body["type"] == "warning"
    assert len(webhook.messages()) == 2

    # The freshness check fails again the next day: the same missing week is not told twice.
    assert freshness.execute_in_process(instance=harness.dagster).success
    sensor.tick()
    assert len(webhook.messages()) == 2


def test_off_when_not_configured_and_nothing_old_is_sent_when_turned_on(harness, webhook):
    off = Sensor(harness, NotifierResource())
    off.tick()
    # A query error (a failure on AMC's side would be retried within the run, and succeed).
    harness.set_faults(fail_next=1, failure_reason="Column 'bogus' does not exist")
    assert not harness.materialize(WEEK).success
    assert "AMC_REPORTS_NOTIFY_URLS" in off.tick()

    on = Sensor(harness, NotifierResource(urls=webhook.url()))
    on.cursor = off.cursor
    on.tick()
    assert webhook.messages() == []
