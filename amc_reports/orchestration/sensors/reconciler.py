"""The reconciler sensor (on by default): weeks left running by a run that has ended, and AMC
executions finished or failed while no run watched them, healed (`collection.reconcile`).

Each tick logs one line per week it acted on; an execution that AMC finished gets its week's run
launched (run key `reconcile:<execution_id>`: at most once per execution), which resumes and
loads it without submitting anything new; one AMC failed on its side (or lost) while attempts are
left gets the week's run launched too, as the next attempt (it submits anew).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from amc_reports.collection.reconcile import Did, Watchers, reconcile
from amc_reports.config import ReportTarget
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import AmcResource, WarehouseResource
from amc_reports.orchestration.runs import (
    ATTEMPT_TAG,
    REASON_TAG,
    ActiveRuns,
    collection_run_tags,
    run_is_alive,
)
from amc_reports.orchestration.sensors.collecting import collection_sensor

RECONCILER_SENSOR = "amc_reconciler"
RECONCILE_EVERY_SECONDS = 60
RUN_KEY_TAG = "dagster/run_key"


def run_key_for(execution_id: str) -> str:
    """The run key of the run launched to resume an execution: at most one per execution."""
    return f"reconcile:{execution_id}"


def build_reconciler_sensor(
    targets: list[ReportTarget], *, grace_seconds: float = 60.0
) -> dg.SensorDefinition:
    """The sensor over `targets`. It asks for runs of single assets (a week of one report on one
    instance, no checks: those run after the week is collected), each in the assets' own job,
    whatever the reports' partitions."""
    keys = [report_asset_key(report, instance) for report, instance in targets]

    @collection_sensor(
        RECONCILER_SENSOR,
        keys,
        RECONCILE_EVERY_SECONDS,
        "Heals weeks nobody watches: a week left running by a run that has ended, an AMC "
        "execution finished or failed while no run watched it. AMC succeeded: the week's run is "
        "launched and resumes it (no new submission); AMC failed or lost it: the week fails with "
        "AMC's reason. The tick log says what it did.",
    )
    def amc_reconciler(
        context: dg.SensorEvaluationContext, amc: AmcResource, warehouse: WarehouseResource
    ) -> dg.SensorResult | dg.SkipReason:
        if not warehouse.is_up():
            return dg.SkipReason(
                "The embedded PostgreSQL is stopped (idle): no run is using it, and nothing is "
                "reconciled until one starts it again."
            )
        instance = context.instance
        active = ActiveRuns(instance)
        result = reconcile(
            targets,
            warehouse.get_warehouse(),
            lambda amc_instance: amc.get_client(amc_instance, context.log),
            Watchers(
                run_is_alive=lambda run_id: run_is_alive(instance, run_id),
                week_has_active_run=active.targets,
                launched_for=lambda execution_id: bool(
                    instance.get_run_ids(
                        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key_for(execution_id)}),
                        limit=1,
                    )
                ),
            ),
            now=datetime.now(UTC),
            grace_seconds=grace_seconds,
        )
        for action in result.actions:
            context.log.info(action.message)
        requests = [
            dg.RunRequest(
                run_key=run_key_for(action.execution_id or ""),
                partition_key=action.key.week_start.isoformat(),
                asset_selection=[report_asset_key(action.target.report, action.target.instance)],
                asset_check_keys=[],  # the week's checks run once it is collected (see checks)
                tags={
                    **collection_run_tags(action.target.report),
                    REASON_TAG: (
                        f"reconciler: AMC execution {action.amc_execution_id} "
                        + (
                            "succeeded while no run watched it (resume and load)"
                            if action.did is Did.LAUNCH
                            else "failed on AMC's side while no run watched it (submit again)"
                        )
                    ),
                    **({ATTEMPT_TAG: str(action.attempt)} if action.attempt else {}),
                },
            )
            for action in result.launches
        ]
        if not requests:
            return dg.SkipReason(result.report())
        context.log.info(result.summary())
        return dg.SensorResult(run_requests=requests)

    return amc_reconciler
