"""Runs as the UI launches them: Materialize... with the asset's checks in the run (a week that
fails records no failed check, and says why on its partition), and the Checks tab's "Execute all"
(a run of the checks without a week)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from amc_reports.orchestration.checks import FRESHNESS_CHECK, WEEKLY_CHECKS
from amc_reports.orchestration.metadata import WEEKS_LISTED, weeks_table
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.weeks import WeekWindow, newest_offered_week
from amc_reports_tests.support.reports import report_yaml

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


def test_each_week_lists_the_newest_weeks_with_when_they_are_final(harness_factory):
    """A provisional week says so where weeks are listed (each week's `weeks` table), with the
    date it becomes final; a report of final weeks says when its newest weeks will be offered."""
    harness = harness_factory(
        report_yaml(name="early") + "    provisional_weeks: collect\n" + report_yaml(name="final")
    )
    now = datetime.now(UTC)
    early, final = harness.config.reports["early"], harness.config.reports["final"]
    rule = {
        "week_start_weekday": early.week_start_weekday,
        "time_zone": early.timezone,
        "lag_days": early.lag_days,
    }
    ended = newest_offered_week(now, collects_provisional=True, **rule)
    result = harness.materialize(ended.isoformat(), report="early")
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["week_status"].value.startswith("PROVISIONAL")
    rows = {record.data["week"]: record.data for record in metadata["weeks"].value.records}
    window = WeekWindow(ended, early.timezone)
    final_at = f"{window.final_at(early.lag_days):%Y-%m-%d %H:%M %Z}"
    assert rows[ended.isoformat()] == {
        "week": ended.isoformat(),
        "status": "PROVISIONAL",
        "final_at": final_at,
        "offered_at": f"{window.final_at(0):%Y-%m-%d %H:%M %Z}",  # the day after it ended
    }

    # The same week, for a report of final weeks: not offered until it is final.
    listed = weeks_table(final, harness.warehouse, "test", now)
    rows = {record.data["week"]: record.data for record in listed.records}
    assert rows[ended.isoformat()]["status"] == "not offered yet"
    assert rows[ended.isoformat()]["offered_at"] == final_at
    assert len(rows) == WEEKS_LISTED
