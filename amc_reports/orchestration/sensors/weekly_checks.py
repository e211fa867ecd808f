"""When the weekly checks run: after each run that ended, for the weeks it materialized.

The `amc_weekly_checks` sensor follows the runs that ended (succeeded, failed or were cancelled:
a batched run that failed one week still materialized the others) through the event log, and for
each (report asset, week) a run materialized and did not check itself, requests one check run of
that week's weekly checks. A collection that failed materialized nothing, so its week gets no
check run: the failure shows as the week's failure only.

Its cost is per run that ended (two reads of that run's events), not per check and partition: the
same rule as an automation condition over every partitioned check (`AFTER_EACH_COLLECTED_WEEK`)
took minutes per tick at agency scale (BENCHMARKS.md, "Agency scale") and kept the daemon busy
with no run at all. That evaluation stays available, stopped, as `amc_weekly_checks_by_condition`
(run one of the two, not both).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from amc_reports.orchestration.sensors.conditions import condition_sensor
from amc_reports.orchestration.sensors.ended_runs import EndedRuns, check_evaluations_of_run

WEEKLY_CHECKS_SENSOR = "amc_weekly_checks"
WEEKLY_CHECKS_BY_CONDITION_SENSOR = "amc_weekly_checks_by_condition"
CHECK_EVERY_SECONDS = 15
RUNS_PER_TICK = 100
# Each check run names the run whose weeks it checks.
CHECKS_AFTER_TAG = "amc_reports/checks_after_run"
ENDINGS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


def parse_cursor(text: str | None) -> EndedRuns | None:
    """The sensor's cursor: where it stands in each kind of run ending (None: start anew)."""
    try:
        return EndedRuns.from_json(json.loads(text), ENDINGS) if text else None
    except ValueError:
        return None


def dump_cursor(ended_runs: EndedRuns) -> str:
    return json.dumps(ended_runs.to_json(), sort_keys=True)


@dataclass(frozen=True)
class WeekToCheck:
    asset_key: dg.AssetKey
    week: str
    after_run_id: str

    def run_request(self, job_name: str, check_keys: Sequence[dg.AssetCheckKey]) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=f"checks:{self.after_run_id}:{self.asset_key.to_user_string()}:{self.week}",
            job_name=job_name,
            asset_selection=[],
            asset_check_keys=list(check_keys),
            partition_key=self.week,
            tags={CHECKS_AFTER_TAG: self.after_run_id},
        )


def weeks_to_check(
    run_id: str,
    materialized: Iterable[tuple[dg.AssetKey, str | None]],
    checked: Iterable[tuple[dg.AssetKey, str | None]],
    checked_assets: Mapping[dg.AssetKey, object],
) -> list[WeekToCheck]:
    """The (asset, week) pairs of a run that want a check run: materialized by the run, of an
    asset with weekly checks, and not already checked in that same run (a run launched from the
    UI with its checks selected)."""
    done = {(key, week) for key, week in checked if week}
    wanted = {
        (key, week)
        for key, week in materialized
        if week and key in checked_assets and (key, week) not in done
    }
    return [
        WeekToCheck(key, week, run_id)
        for key, week in sorted(wanted, key=lambda kw: (kw[0].to_user_string(), kw[1]))
    ]


def _materialized(instance: dg.DagsterInstance, run_id: str) -> list[tuple[dg.AssetKey, str]]:
    found = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        event = entry.dagster_event
        if event is not None and event.asset_key is not None and event.partition:
            found.append((event.asset_key, event.partition))
    return found


def _checked(instance: dg.DagsterInstance, run_id: str) -> list[tuple[dg.AssetKey, str | None]]:
    return [(e.asset_key, e.partition) for e in check_evaluations_of_run(instance, run_id)]


def _no_run_config(partition_key: str) -> dict:
    return {}


def weekly_check_jobs(
    checks: list[dg.AssetChecksDefinition],
) -> tuple[list[dg.UnresolvedAssetJobDefinition], dict[dg.AssetKey, str]]:
    """One job per partitions definition of the checks (reports with the same weeks share one),
    and the job of each checked asset. A check run's week is resolved against its job's weeks:
    one job over reports of different weeks (a final-only report and one collecting provisional
    weeks, other start dates or time zones) has no weeks of its own, and its runs are refused."""
    groups: dict[dg.PartitionsDefinition, list[dg.AssetChecksDefinition]] = {}
    for checks_def in checks:
        groups.setdefault(checks_def.partitions_def, []).append(checks_def)
    jobs, job_of = [], {}
    for number, (partitions_def, group) in enumerate(groups.items(), start=1):
        assets = sorted({key.asset_key for c in group for key in c.check_keys})
        name = f"{WEEKLY_CHECKS_SENSOR}_{number}"
        jobs.append(
            dg.define_asset_job(
                name,
                selection=dg.AssetSelection.checks(*group),
                # The weeks, as a partitioned config: a job of checks alone drops `partitions_def`
                # (Dagster infers it from the job's assets, and it has none).
                config=dg.PartitionedConfig(
                    partitions_def=partitions_def, run_config_for_partition_key_fn=_no_run_config
                ),
                description="Weekly checks of "
                + ", ".join(key.to_user_string() for key in assets)
                + f", run by the {WEEKLY_CHECKS_SENSOR} sensor after each collected week.",
            )
        )
        job_of.update(dict.fromkeys(assets, name))
    return jobs, job_of


def build_weekly_checks_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """The sensor requesting each materialized week's weekly checks, in a run of their own."""
    check_keys: dict[dg.AssetKey, list[dg.AssetCheckKey]] = {}
    for checks_def in checks:
        for key in sorted(checks_def.check_keys, key=lambda k: k.to_user_string()):
            check_keys.setdefault(key.asset_key, []).append(key)
    jobs, job_of = weekly_check_jobs(checks)

    @dg.sensor(
        name=WEEKLY_CHECKS_SENSOR,
        minimum_interval_seconds=CHECK_EVERY_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        # One job per partitions definition (one job of every report cannot hold reports of
        # different weeks); each request selects its week's checks of one asset.
        jobs=jobs,
        description=(
            "Runs the weekly checks of each week a run materialized, in a run of their own, once "
            "that run has ended: a week whose collection failed is not checked, so its failure "
            "shows as the week's failure only."
        ),
    )
    def amc_weekly_checks(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        ended_runs = parse_cursor(context.cursor)
        if ended_runs is None:  # first tick: weeks materialized from now on are this sensor's
            return dg.SensorResult(
                cursor=dump_cursor(EndedRuns.from_now(instance, ENDINGS)),
                skip_reason="Started: the weeks of runs that end from now on get their checks.",
            )
        ended = [run_id for run_id, _ in ended_runs.since(instance, RUNS_PER_TICK)]
        wanted = [
            week
            for run_id in ended
            for week in weeks_to_check(
                run_id,
                _materialized(instance, run_id),
                _checked(instance, run_id),
                check_keys,
            )
        ]
        if not wanted:
            return dg.SensorResult(
                cursor=dump_cursor(ended_runs),
                skip_reason=f"{len(ended)} run(s) ended since the last tick; no week to check.",
            )
        context.log.info(
            f"{len(ended)} run(s) ended; checking "
            + ", ".join(f"{w.asset_key.to_user_string()} {w.week}" for w in wanted)
        )
        return dg.SensorResult(
            run_requests=[
                week.run_request(job_of[week.asset_key], check_keys[week.asset_key])
                for week in wanted
            ],
            cursor=dump_cursor(ended_runs),
        )

    return amc_weekly_checks


def build_weekly_checks_condition_sensor(
    checks: list[dg.AssetChecksDefinition],
) -> dg.AutomationConditionSensorDefinition:
    """Dagster's own evaluation of the checks' automation condition, stopped by default (without
    it Dagster would add its default automation sensor for them, under a name that says less)."""
    description = (
        f"The rule of {WEEKLY_CHECKS_SENSOR} evaluated as Dagster automation conditions, for "
        f"every check and week at each tick: fine for a few reports, minutes per tick at "
        f"agency scale. Stopped; run it instead of {WEEKLY_CHECKS_SENSOR}, never with it."
    )
    checked = dg.AssetSelection.checks(*checks)
    return condition_sensor(
        WEEKLY_CHECKS_BY_CONDITION_SENSOR, checked, running=False, description=description
    )
