"""Healing with real Dagster runs: the reconciler sensor after a run worker was killed mid-poll
and after Postgres restarted in the middle of a load; the circuit breaker of a backfill.

A run worker is a child process running the week (`run_week_child`) against the test's Dagster
instance; the reconciler's tick is evaluated as the daemon would, and the run it asks for is
executed. The sandbox counts what AMC was asked to run.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import date, timedelta

import dagster as dg
import pytest

from amc_reports.local.postgres import EmbeddedPostgres
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import PostgresWarehouseResource
from amc_reports.orchestration.sensors.reconciler import build_reconciler_sensor
from amc_reports.warehouse import Warehouse
from amc_reports_tests.dagster_tests.test_interruptions import WEEK, start_child, wait_for
from amc_reports_tests.fixtures_postgres import server_temp_dir
from amc_reports_tests.support.reports import collection_job


def reconciler_tick(harness) -> dg.SensorResult | dg.SkipReason:
    """One evaluation of the reconciler sensor, as the daemon runs it."""
    sensor = build_reconciler_sensor(list(harness.config.targets()), grace_seconds=0)
    context = dg.build_sensor_context(instance=harness.dagster, resources=harness.resources)
    return sensor(context)


def run_requested(harness, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute the run a sensor asked for (what the daemon would launch): its assets, and the
    checks it asks for (none: a collected week's checks run afterwards in a run of their own)."""
    assert request.asset_check_keys == []
    job = collection_job(harness.definitions(), list(request.asset_selection))
    return job.execute_in_process(
        partition_key=request.partition_key,
        tags={**request.tags, "dagster/run_key": request.run_key},  # as the daemon tags it
        instance=harness.dagster,
        raise_on_error=False,
    )


def heal(harness) -> dg.ExecuteInProcessResult:
    """Reconciler ticks until it asks for a run (AMC has finished), then that run."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tick = reconciler_tick(harness)
        if isinstance(tick, dg.SensorResult) and tick.run_requests:
            [request] = tick.run_requests
            assert request.run_key.startswith("reconcile:")
            assert request.tags["dagster/max_runtime"]
            return run_requested(harness, request)
        assert "still working" in (tick.skip_message or "") or "Nothing" in tick.skip_message
        time.sleep(0.5)
    raise AssertionError("the reconciler never asked for a run")


def the_week(harness):
    return harness.warehouse.get_week(harness.report.name, date.fromisoformat(WEEK))


def test_the_reconciler_heals_a_week_whose_run_worker_was_killed(harness):
    harness.set_faults(latency_seconds=6)
    child = start_child(harness)
    try:
        row = wait_for(lambda: (r := the_week(harness)) and r.amc_execution_id and r, "a submit")
    finally:
        child.kill()  # SIGKILL mid-poll: no cleanup
        child.wait(timeout=30)
    [dead_run] = harness.dagster.get_runs()
    harness.dagster.report_run_failed(dead_run, "run worker died (as run monitoring reports)")
    assert the_week(harness).status == "running"  # nobody will finish it ... but the reconciler

    tick = reconciler_tick(harness)  # AMC still works on it: the tick says so, launches nothing
    assert isinstance(tick, dg.SkipReason) and "still working" in tick.skip_message
    result = heal(harness)
    assert result.success
    final = the_week(harness)
    assert final.status == "completed" and final.dagster_run_id == result.run_id
    assert (final.execution_id, final.amc_execution_id) == (row.execution_id, row.amc_execution_id)
    assert len(harness.submissions()) == 1  # resumed, not paid again
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["resumed_execution"].value is True
    assert isinstance(reconciler_tick(harness), dg.SkipReason)  # nothing left to heal


@pytest.fixture
def own_postgres(harness):
    """The harness on a PostgreSQL server of its own, which the test may stop and start."""
    root = server_temp_dir()
    server = EmbeddedPostgres(root / "data", idle_stop_seconds=-1)
    try:
        url = server.uri()
        warehouse = Warehouse(url)
        warehouse.migrate()
        yield (
            server,
            dataclasses.replace(
                harness,
                warehouse=warehouse,
                resources={
                    **harness.resources,
                    "warehouse": PostgresWarehouseResource(database_url=url),
                },
            ),
        )
    finally:
        server.release()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_reconciler_heals_a_week_after_postgres_restarted_mid_load(own_postgres):
    server, harness = own_postgres
    # AMC is quick; its result downloads slowly: the load is under way when Postgres goes.
    harness.set_faults(latency_seconds=1, download_delay_seconds=4)
    child = start_child(harness)
    try:
        row = wait_for(
            lambda: (
                (r := the_week(harness))
                and r.execution_id
                and harness.warehouse.get_execution(r.execution_id).status == "SUCCEEDED"
                and r
            ),
            "AMC to finish and the load to start",
        )
        server.stop()
        assert child.wait(timeout=90) != 0  # the run failed: it could not store the week
    finally:
        if child.poll() is None:
            child.kill()
    harness.set_faults(download_delay_seconds=0)
    server.uri()  # Postgres is back
    stuck = the_week(harness)
    assert stuck.status == "running" and stuck.record_count is None  # its run could not say
    [failed_run] = harness.dagster.get_runs()
    assert failed_run.status == dg.DagsterRunStatus.FAILURE

    result = heal(harness)
    assert result.success
    final = the_week(harness)
    assert final.status == "completed" and final.record_count == 40
    assert (final.execution_id, final.amc_execution_id) == (row.execution_id, row.amc_execution_id)
    assert len(harness.submissions()) == 1


def test_the_circuit_breaker_stops_a_backfill_of_a_broken_query(harness):
    harness.set_faults(fail_rate=1.0, failure_reason="Column 'bogus' does not exist")
    job = collection_job(harness.definitions(), [report_asset_key(harness.report)])
    weeks = [date(2026, 3, 1) + timedelta(weeks=n) for n in range(5)]
    failures = []
    for week in weeks:  # one run per week, as a backfill launches them (here one at a time)
        result = job.execute_in_process(
            partition_key=week.isoformat(),
            tags={"dagster/backfill": "bf-broken"},
            instance=harness.dagster,
            raise_on_error=False,
        )
        assert not result.success
        failures.append(result.get_step_failure_events()[0].step_failure_data)
    kinds = [f.user_failure_data.metadata["amc_reports/failure_kind"].value for f in failures]
    assert kinds == ["query_error"] * 3 + ["circuit_breaker"] * 2
    tripped = [
        f.user_failure_data.metadata["amc_reports/circuit_breaker_tripped"].value for f in failures
    ]
    assert tripped == [False, False, True, False, False]
    assert len(harness.submissions()) == 3  # the remaining weeks submitted nothing
    message = failures[4].error.message
    assert "circuit breaker" in message and "week 2026-03-01" in message and "bogus" in message
