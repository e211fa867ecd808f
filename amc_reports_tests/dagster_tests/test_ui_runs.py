"""Runs as the UI launches them: Materialize... with the asset's checks in the run (a week that
fails records no failed check, and says why on its partition), and the Checks tab's "Execute all"
(a run of the checks without a week)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from amc_reports.orchestration.checks import FRESHNESS_CHECK, WEEKLY_CHECKS
from amc_reports.orchestration.partitions import report_asset_key

FIRST, SECOND = "2026-03-01", "2026-03-08"
REASON = "Column 'bogus' does not exist"


def asset_key(harness) -> dg.AssetKey:
    return report_asset_key(harness.report, harness.report.instances[0])


def check_keys(harness) -> set[dg.AssetCheckKey]:
    return {dg.AssetCheckKey(asset_key(harness), name) for name in WEEKLY_CHECKS}


def materialize_with_checks(harness, week: str) -> dg.ExecuteInProcessResult:
    """What the UI's Materialize... -> one week -> Launch runs: the asset and all its checks."""
    harness.start_automation()
    job = harness.definitions().resolve_implicit_global_asset_job_def()
    every_check = {*check_keys(harness), dg.AssetCheckKey(asset_key(harness), FRESHNESS_CHECK)}
    run = job.get_subset(asset_selection={asset_key(harness)}, asset_check_selection=every_check)
    return run.execute_in_process(
        partition_key=week, instance=harness.dagster, raise_on_error=False
    )


def execute_all(harness) -> dg.ExecuteInProcessResult:
    """The Checks tab's "Execute all": the asset's checks, no asset, no partition."""
    job = harness.definitions().resolve_implicit_global_asset_job_def()
    run = job.get_subset(asset_selection=set(), asset_check_selection=check_keys(harness))
    return run.execute_in_process(instance=harness.dagster, raise_on_error=False)


def latest_records(harness, week: str) -> dict[str, object]:
    """Each check's latest execution record on `week` (status as Dagster resolves it)."""
    storage = harness.dagster.event_log_storage
    latest = {}
    for key in check_keys(harness):
        for record in storage.get_asset_check_execution_history(key, limit=50):
            if record.partition == week:
                latest[key.name] = record
                break
    return latest


def status_of(harness, record) -> str:
    """PLANNED in a failed run is what the UI shows as "Execution failed"."""
    if record.status.value != "PLANNED":
        return record.status.value
    run = harness.dagster.get_run_by_id(record.run_id)
    return "EXECUTION_FAILED" if run.status == dg.DagsterRunStatus.FAILURE else "SKIPPED"


def test_a_week_failing_with_its_checks_in_the_run_fails_no_check(harness):
    # A week collected and checked in the run that collects it: its results stand.
    first = materialize_with_checks(harness, FIRST)
    assert first.success
    before = latest_records(harness, FIRST)
    assert {name: status_of(harness, r) for name, r in before.items()} == dict.fromkeys(
        WEEKLY_CHECKS, "SUCCEEDED"
    )

    # A week never collected fails, with its checks planned in the run.
    harness.set_faults(fail_next=1, failure_reason=REASON)
    failed = materialize_with_checks(harness, SECOND)
    assert not failed.success  # the run fails...
    week = harness.warehouse.get_week(harness.report.name, date.fromisoformat(SECOND))
    assert week.status == "failed"  # ... and the week stays failed
    assert not failed.get_asset_materialization_events()
    after = latest_records(harness, SECOND)
    assert set(after) == set(WEEKLY_CHECKS)
    for name, record in after.items():
        assert record.run_id == failed.run_id
        assert status_of(harness, record) == "SUCCEEDED", (name, record)
        evaluation = record.evaluation
        assert evaluation.metadata["checked"].value is False
        assert evaluation.description.startswith(f"Not checked: week {SECOND} was not collected")

    # Nor the freshness check the UI adds too (it has no weeks).
    [freshness] = harness.dagster.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(asset_key(harness), FRESHNESS_CHECK), limit=1
    )
    assert freshness.run_id == failed.run_id
    assert status_of(harness, freshness) in ("SUCCEEDED", "FAILED")
    assert freshness.evaluation.metadata["checked"].value is False

    # The failure is on the week's partition: an observation with AMC's reason and both ids.
    records = harness.dagster.fetch_observations(
        dg.AssetRecordsFilter(asset_key=asset_key(harness), asset_partitions=[SECOND]), limit=5
    ).records
    assert [r.run_id for r in records] == [failed.run_id]
    observation = records[0].asset_observation
    assert observation.partition == SECOND
    assert REASON in observation.description
    assert week.amc_execution_id in observation.description
    metadata = {k: v.value for k, v in observation.metadata.items()}
    assert metadata["failure_kind"] == "query_error"
    assert metadata["execution_id"] == str(week.execution_id)
    assert metadata["amc_execution_id"] == week.amc_execution_id
    assert metadata["dagster_run_id"] == failed.run_id
    assert metadata["week_status"].startswith("FAILED (query_error)")

    # A week collected before whose re-collection fails keeps its results, restated.
    harness.set_faults(fail_next=1, failure_reason=REASON)
    again = materialize_with_checks(harness, FIRST)
    assert not again.success
    kept = latest_records(harness, FIRST)
    for name, record in kept.items():
        assert record.run_id == again.run_id
        assert status_of(harness, record) == before[name].status.value == "SUCCEEDED", name
        assert record.evaluation.description.startswith(f"Unchanged: collecting week {FIRST}")
        assert before[name].evaluation.description in record.evaluation.description


def test_execute_all_checks_the_newest_collected_week(harness):
    # Nothing collected yet: the run succeeds and records nothing.
    empty = execute_all(harness)
    assert empty.success
    assert empty.get_asset_check_evaluations() == []

    for week in (FIRST, SECOND):
        assert harness.materialize(week).success
    executed = execute_all(harness)
    assert executed.success, executed.all_events
    evaluations = executed.get_asset_check_evaluations()
    assert {(e.check_name, e.partition) for e in evaluations} == {
        (name, SECOND) for name in WEEKLY_CHECKS
    }
    assert all(e.passed for e in evaluations if e.check_name != "week_is_final")


def test_chosen_weeks_are_rechecked_and_a_failed_week_is_skipped(harness):
    """The weekly checks' job, launched for chosen weeks (a backfill of the job in the UI): a
    collected week is checked; a failed week is not, and its run succeeds."""
    assert harness.materialize(FIRST).success
    harness.set_faults(fail_next=1, failure_reason=REASON)
    assert not harness.materialize(SECOND).success
    defs = harness.definitions()
    [job_name] = [
        job.name for job in defs.resolve_all_job_defs() if job.name.startswith("amc_weekly_checks_")
    ]
    job = defs.resolve_job_def(job_name)
    checked = job.execute_in_process(
        partition_key=FIRST, instance=harness.dagster, raise_on_error=False
    )
    assert checked.success
    assert {
        (e.check_name, e.partition, e.passed) for e in checked.get_asset_check_evaluations()
    } == {(name, FIRST, True) for name in WEEKLY_CHECKS}
    skipped = job.execute_in_process(
        partition_key=SECOND, instance=harness.dagster, raise_on_error=False
    )
    assert skipped.success
    assert skipped.get_asset_check_evaluations() == []
