"""The deployment's path end to end, with real processes: what the UI and the daemon do.

Postgres (embedded) for Dagster's storage and the warehouse, the AMC sandbox, `dagster api
grpc`, `dagster-webserver` and `dagster-daemon`, configured from deploy/dagster.yaml. A backfill
is launched through GraphQL with the mutation the UI sends. Notifications go to a local webhook.
"""

from __future__ import annotations

import os
import shutil
import signal
from datetime import date, timedelta

import dagster as dg
import psutil
import pytest

from amc_reports.orchestration.checks import WEEKLY_CHECKS
from amc_reports.orchestration.sensors.notifications import ALERT_SENSOR
from amc_reports.orchestration.sensors.weekly_checks import WEEKLY_CHECKS_SENSOR
from amc_reports.run_launcher import run_worker_pid
from amc_reports.warehouse import Warehouse
from amc_reports_tests.fixtures_postgres import server_temp_dir
from amc_reports_tests.support.stack import Stack, wait_for
from amc_reports_tests.support.webhook import WebhookReceiver, start_receiver

pytestmark = pytest.mark.e2e

POOL_LIMIT = 3
WEEKS = [date(2026, 3, 1) + timedelta(weeks=i) for i in range(6)]
REPORTS = ("campaign_weekly", "campaign_conversions")
INSTANCE_ID = "amce2e01"

REPORTS_YAML = f"""
instances:
  us:
    instance_id: {INSTANCE_ID}
    advertiser_id: ENTITYE2E
    marketplace_id: ATVPDKIKX0DER
reports:
  campaign_weekly:
    instance: us
    sql: SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks FROM t
    start_date: 2026-03-01
    owners: [team:qa]
    schedule: false
  campaign_conversions:
    instance: us
    sql: SELECT campaign_id, SUM(purchases) AS purchases, SUM(product_sales) AS sales FROM t
    start_date: 2026-03-01
    owners: [team:qa]
    schedule: false
"""


@pytest.fixture(scope="module")
def alerts() -> WebhookReceiver:
    receiver = start_receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, alerts: WebhookReceiver) -> Stack:
    root = tmp_path_factory.mktemp("stack")
    config = root / "reports.yaml"
    config.write_text(REPORTS_YAML)
    stack = Stack(
        root=root,
        pool_limit=POOL_LIMIT,
        reports_config=config,
        # Executions take a few seconds, and AMC itself would allow 10 at once: the pool must
        # be what keeps it to POOL_LIMIT.
        sandbox_config={"latency_seconds": 4, "rows": 30, "max_running": 10},
        postgres_dir=server_temp_dir(),
        extra_env={
            "AMC_REPORTS_NOTIFY_URLS": alerts.url("/hooks/e2e-S3cretT0ken"),
            "AMC_REPORTS_UI_URL": "http://dagster.e2e:3000",
            # No waiting for the reconciler to heal a failed week before it is told.
            "AMC_REPORTS_NOTIFY_HEAL_SECONDS": "0",
        },
    )
    try:
        stack.start()
        # The sensors start from their first tick: weeks materialized before it are not theirs.
        for sensor in (WEEKLY_CHECKS_SENSOR, ALERT_SENSOR):
            stack.wait_sensor_ticked(sensor)
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.postgres_dir, ignore_errors=True)


def metadata_of(entry_list: list[dict]) -> dict[str, object]:
    values = {}
    for entry in entry_list:
        for key in ("text", "intValue", "floatValue"):
            if key in entry:
                values[entry["label"]] = entry[key]
    return values


def check_results_by_week(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> dict[str, bool]:
    """Each week's newest evaluation of the check: passed or not (weeks not evaluated absent)."""
    executions = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    results: dict[str, bool] = {}
    for e in executions:  # newest first
        evaluation = e.event and e.event.asset_check_evaluation
        if evaluation and evaluation.partition not in results:
            results[evaluation.partition] = evaluation.passed
    return results


# Its own waits (the backfill, then the checks) decide; pytest's default timeout would cut them.
@pytest.mark.timeout(1800)
def test_backfill_through_graphql_collects_every_week_with_lineage(stack: Stack):
    paths = [["amc", "us", name] for name in REPORTS]
    backfill_id = stack.launch_backfill(paths, WEEKS[0].isoformat(), WEEKS[-1].isoformat())
    backfill = stack.wait_backfill(backfill_id, timeout=1200)
    assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), backfill
    assert backfill["numPartitions"] == len(WEEKS)
    assert all(run["status"] == "SUCCESS" for run in backfill["runs"]), backfill["runs"]
    # One run per week (Dagster groups both reports' partition into one run).
    assert len(backfill["runs"]) == len(WEEKS)

    warehouse = Warehouse(stack.warehouse_url)
    instance = stack.instance()
    weeks = {w.isoformat() for w in WEEKS}
    for name in REPORTS:
        latest: dict[str, dict] = {}
        for record in sorted(
            stack.materializations(["amc", "us", name]), key=lambda m: m["timestamp"]
        ):
            latest[record["partition"]] = metadata_of(record["metadataEntries"])
        for week in WEEKS:
            row = warehouse.get_week(name, week)
            assert row.status == "completed", (name, week, row)
            metadata = latest[week.isoformat()]
            assert metadata["execution_id"] == str(row.execution_id)
            assert metadata["amc_execution_id"] == row.amc_execution_id
            assert metadata["dagster/row_count"] == row.record_count == 30
        # Each collected week got its checks' results, per partition (after its collection).
        key = dg.AssetCheckKey(dg.AssetKey(["amc", "us", name]), "lineage_complete")
        results = wait_for(
            lambda key=key: (r := check_results_by_week(instance, key)).keys() >= weeks and r,
            f"the weekly checks of {name}",
            timeout=420,  # within the test's own timeout, so that this says what it waited for
            interval=2,
        )
        assert all(results[week] for week in weeks), (name, results)

        # Each run recorded its collection, typed as part of this backfill.
        for week in WEEKS:
            collection = warehouse.get_collection(warehouse.get_week(name, week).collection_id)
            assert collection.collection_type == "backfill"
            assert collection.backfill_id == backfill_id
            assert collection.status == "completed"

    stats = stack.sandbox_stats()
    assert stats["max_running_per_instance"][INSTANCE_ID] <= POOL_LIMIT
    assert stats["max_running_per_instance"][INSTANCE_ID] >= 2  # the pool did allow parallelism


def test_killed_run_worker_is_retried_and_resumes_the_same_amc_execution(stack: Stack):
    stack.set_sandbox_config({"instances": {INSTANCE_ID: {"latency_seconds": 45}}})
    week = "2026-04-12"
    stack.launch_backfill([["amc", "us", REPORTS[0]]], week, week)
    warehouse = Warehouse(stack.warehouse_url)
    instance = stack.instance()

    row = wait_for(
        lambda: (
            (r := warehouse.get_week(REPORTS[0], date.fromisoformat(week)))
            and r.amc_execution_id
            and r
        ),
        "the run to submit to AMC",
        timeout=300,
    )
    first_run = row.dagster_run_id
    pid = run_worker_pid(instance, first_run)
    assert pid is not None
    # The worker was forked by the code server's preloaded forkserver (`amc-reports code-server`).
    forkserver = psutil.Process(pid).parent()
    assert "multiprocessing.forkserver" in " ".join(forkserver.cmdline())
    assert forkserver.ppid() == stack.processes["grpc"].pid
    os.kill(pid, signal.SIGKILL)  # mid-poll: AMC still works on the execution

    final = wait_for(
        lambda: (
            (r := warehouse.get_week(REPORTS[0], date.fromisoformat(week)))
            and r.status == "completed"
            and r
        ),
        "the retried run to complete the week",
        timeout=600,
        interval=2,
    )
    assert final.dagster_run_id != first_run  # another run finished it
    assert final.amc_execution_id == row.amc_execution_id  # ... with the same AMC execution
    assert final.execution_id == row.execution_id
    submissions = [
        e
        for e in stack.sandbox_executions()
        if e["instance_id"] == INSTANCE_ID
        and e["time_window_start"].startswith(week)
        and "impressions" in e["sql"]
    ]
    assert len(submissions) == 1
    retried = instance.get_run_by_id(final.dagster_run_id)
    assert retried.tags.get("dagster/parent_run_id") == first_run
    assert instance.get_run_by_id(first_run).status == dg.DagsterRunStatus.FAILURE


def test_a_week_that_failed_at_amc_is_not_resubmitted_by_run_retries(
    stack: Stack, alerts: WebhookReceiver
):
    # A query error: never retried (a failure on AMC's side would be, within the run).
    stack.set_sandbox_config(
        {
            "instances": {
                INSTANCE_ID: {
                    "latency_seconds": 2,
                    "fail_next": 1,
                    "failure_reason": "Column 'bogus' does not exist",
                }
            }
        }
    )
    week = "2026-04-19"
    backfill_id = stack.launch_backfill([["amc", "us", REPORTS[1]]], week, week)
    backfill = stack.wait_backfill(backfill_id, timeout=600)
    [run] = backfill["runs"]
    assert run["status"] == "FAILURE"
    instance = stack.instance()
    wait_for(
        lambda: any(
            "Not retrying run" in (event.message or "") for event in instance.all_logs(run["runId"])
        ),
        "the daemon to decide about a retry",
        timeout=300,
        interval=2,
    )
    row = Warehouse(stack.warehouse_url).get_week(REPORTS[1], date.fromisoformat(week))
    assert row.status == "failed"
    # AMC was asked once for this week: the failure was not paid for twice.
    submitted = [
        e
        for e in stack.sandbox_executions()
        if e["time_window_start"].startswith(week) and "purchases" in e["sql"]
    ]
    assert len(submitted) == 1

    # Someone is told, with the week's ids and a link to the run ...
    [message] = alerts.wait_for(lambda m: week in m.title and REPORTS[1] in m.title, timeout=300)
    assert message.title == f"[amc_reports] {REPORTS[1]} on us: week {week} failed"
    assert f"amc_execution_id: {row.amc_execution_id}" in message.message
    assert f"Run: http://dagster.e2e:3000/runs/{run['runId']}" in message.message
    # ... and the failure is the week's only: no check of the week was planned, none failed.
    for name in WEEKLY_CHECKS:
        key = dg.AssetCheckKey(dg.AssetKey(["amc", "us", REPORTS[1]]), name)
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        assert not [r for r in records if r.partition == week or r.run_id == run["runId"]]


def test_terminating_a_run_cancels_its_amc_execution(stack: Stack):
    """Terminate from the UI (GraphQL): the code server signals its (forked) run worker, which
    cancels the week's execution at AMC before the run ends."""
    stack.set_sandbox_config({"instances": {INSTANCE_ID: {"latency_seconds": 120}}})
    week = "2026-04-26"
    stack.launch_backfill([["amc", "us", REPORTS[1]]], week, week)
    warehouse = Warehouse(stack.warehouse_url)
    row = wait_for(
        lambda: (
            (r := warehouse.get_week(REPORTS[1], date.fromisoformat(week)))
            and r.amc_execution_id
            and r
        ),
        "the run to submit to AMC",
        timeout=300,
    )
    result = stack.graphql(TERMINATE, {"runId": row.dagster_run_id})["terminateRun"]
    assert result["__typename"] == "TerminateRunSuccess", result
    instance = stack.instance()
    run = wait_for(
        lambda: (r := instance.get_run_by_id(row.dagster_run_id)).is_finished and r,
        "the terminated run to end",
        timeout=300,
        interval=2,
    )
    assert run.status == dg.DagsterRunStatus.CANCELED
    [execution] = [
        e for e in stack.sandbox_executions() if e["execution_id"] == row.amc_execution_id
    ]
    assert execution["status"] == "CANCELLED"
    final = warehouse.get_week(REPORTS[1], date.fromisoformat(week))
    assert final.status == "failed" and "terminated" in (final.error_message or "")


TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""
