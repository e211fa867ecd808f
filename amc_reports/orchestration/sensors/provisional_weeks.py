"""The provisional-weeks sensor: a week collected while provisional is collected again, once,
after it becomes final (reports with `provisional_weeks: collect`)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from amc_reports.config import ReportTarget
from amc_reports.orchestration.partitions import report_asset_key
from amc_reports.orchestration.resources import WarehouseResource
from amc_reports.orchestration.runs import REASON_TAG, collection_run_tags
from amc_reports.orchestration.sensors.collecting import collection_sensor

FINAL_RECOLLECTION_SENSOR = "amc_provisional_weeks_final"
CHECK_EVERY_SECONDS = 3600


def final_recollection_requests(
    targets: list[ReportTarget], warehouse: WarehouseResource, now: datetime
) -> list[dg.RunRequest]:
    """One run per provisional week whose final time has passed. The run key names the
    provisional execution, so each provisional collection is followed by one final one."""
    store = warehouse.get_warehouse()
    requests = []
    for report, instance in targets:
        for week in store.provisional_weeks_due(report.name, instance.alias, now):
            requests.append(
                dg.RunRequest(
                    run_key=(
                        f"final:{report.name}:{instance.alias}:{week.week_start_date}:"
                        f"{week.execution_id}"
                    ),
                    partition_key=week.week_start_date.isoformat(),
                    asset_selection=[report_asset_key(report, instance)],
                    tags={
                        **collection_run_tags(report),
                        REASON_TAG: "provisional week became final",
                    },
                )
            )
    return requests


def build_final_recollection_sensor(targets: list[ReportTarget]) -> dg.SensorDefinition:
    keys = [report_asset_key(report, instance) for report, instance in targets]

    @collection_sensor(
        FINAL_RECOLLECTION_SENSOR,
        keys,
        CHECK_EVERY_SECONDS,
        "Collects again, once, every week that was collected while PROVISIONAL and has since "
        "become final (reports with provisional_weeks: collect).",
    )
    def provisional_weeks_final(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult | dg.SkipReason:
        requests = final_recollection_requests(targets, warehouse, datetime.now(UTC))
        if not requests:
            return dg.SkipReason("No provisional week has become final since the last check.")
        weeks = ", ".join(r.run_key or "" for r in requests)
        context.log.info(
            f"collecting {len(requests)} week(s) again now that they are final: {weeks}"
        )
        return dg.SensorResult(run_requests=requests)

    return provisional_weeks_final
