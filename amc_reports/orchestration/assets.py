"""One weekly-partitioned asset per report: materializing week W collects W from AMC."""

import warnings
from collections.abc import Mapping
from datetime import date

import dagster as dg

from amc_reports.collection import RunInfo, WeekCollector, collect_weeks
from amc_reports.config import ReportConfig
from amc_reports.orchestration.metadata import materialization_metadata
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import AmcResource, WarehouseResource
from amc_reports.warehouse import CollectionType

# BackfillPolicy is beta in Dagster 1.13; we use it knowingly for reports that batch weeks.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

BACKFILL_TAG = "dagster/backfill"
SCHEDULE_TAG = "dagster/schedule_name"


def collection_type(tags: Mapping[str, str]) -> tuple[CollectionType, str | None]:
    """How a run was started: (backfill, its id), (scheduled, None) or (manual, None)."""
    if tags.get(BACKFILL_TAG):
        return CollectionType.BACKFILL, tags[BACKFILL_TAG]
    if tags.get(SCHEDULE_TAG):
        return CollectionType.SCHEDULED, None
    return CollectionType.MANUAL, None


def describe_report(report: ReportConfig) -> str:
    query = (
        f"```sql\n{report.sql}\n```"
        if report.sql
        else f"Runs the saved AMC workflow {report.workflow_id}."
    )
    return (
        f"{report.description or 'AMC report ' + report.name}\n\n"
        f"Collected weekly from AMC instance {report.instance.alias} "
        f"({report.instance.instance_id}). Weeks start on {report.week_starts_on.capitalize()} "
        f"({report.timezone}); a week is final {report.lag_days} days after it ends. Each "
        f"partition is one week; its rows land in amc_results.{report.name}, each with the "
        f"execution_id that produced it.\n\n"
        f"{query}"
    )


def build_report_asset(report: ReportConfig) -> dg.AssetsDefinition:
    instance = report.instance

    @dg.asset(
        key=report_asset_key(report),
        partitions_def=weekly_partitions(report),
        pool=instance.pool,
        group_name=f"amc_{instance.alias}",
        kinds={"amc", "postgres"},
        owners=list(report.owners),
        description=describe_report(report),
        code_version=report.query_fingerprint[:16],
        # Default: one run per week (own retries, own check results). Batched: several weeks per
        # run, collected concurrently, for large backfills (see BENCHMARKS.md). Beta in 1.13.
        backfill_policy=(
            dg.BackfillPolicy.multi_run(max_partitions_per_run=report.backfill_weeks_per_run)
            if report.backfill_weeks_per_run > 1
            else None
        ),
        metadata={
            "dagster/table_name": f"amc_results.{report.name}",
            "amc_instance": f"{instance.alias} ({instance.instance_id}, {instance.region})",
            "week_starts_on": report.week_starts_on,
            "timezone": report.timezone,
            "lag_days": report.lag_days,
        },
    )
    def collect_week(
        context: dg.AssetExecutionContext, amc: AmcResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        store = warehouse.get_warehouse()
        weeks = [date.fromisoformat(key) for key in context.partition_keys]
        kind, backfill_id = collection_type(context.run.tags)
        client = amc.get_client(instance, context.log)
        batch = collect_weeks(
            report.name,
            weeks,
            warehouse=store,
            collector=lambda sleep: WeekCollector(
                report,
                client,
                store,
                log=context.log,
                poll=amc.poll_policy,
                rejection=amc.rejection_policy,
                sleep=sleep,
            ),
            run=RunInfo(
                run_id=context.run.run_id,
                collection_type=kind,
                backfill_id=backfill_id,
                run_is_alive=lambda run_id: _run_is_alive(context.instance, run_id),
            ),
        )
        metadata = {
            week: materialization_metadata(report, store, outcome)
            for week, outcome in batch.outcomes.items()
        }
        if len(weeks) == 1:
            if batch.failures:
                [error] = batch.failures.values()
                raise dg.Failure(
                    description=str(error),
                    metadata={
                        "execution_id": str(error.execution_id or ""),
                        "amc_execution_id": error.amc_execution_id or "",
                    },
                )
            return dg.MaterializeResult(metadata=metadata[weeks[0]])
        if batch.failures:
            # Raising drops the run's own materializations: record the weeks that did succeed
            # first, so each one's latest materialization still carries its ids.
            for week, values in metadata.items():
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key, partition=week.isoformat(), metadata=values
                    )
                )
            raise dg.Failure(
                description=f"{len(batch.failures)} of {len(weeks)} weeks failed:\n"
                + "\n".join(str(exc) for exc in batch.failures.values())
            )
        for week, values in metadata.items():
            context.add_asset_metadata(values, partition_key=week.isoformat())
        return dg.MaterializeResult()

    return collect_week


def _run_is_alive(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and not run.is_finished
