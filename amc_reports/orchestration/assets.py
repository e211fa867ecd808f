"""One weekly-partitioned asset per report: materializing week W collects W from AMC."""

from collections.abc import Mapping
from datetime import date

import dagster as dg

from amc_reports.collection import CollectionError, WeekCollector
from amc_reports.config import ReportConfig
from amc_reports.orchestration.metadata import materialization_metadata
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import AmcResource, WarehouseResource

BACKFILL_TAG = "dagster/backfill"
SCHEDULE_TAG = "dagster/schedule_name"


def collection_type(tags: Mapping[str, str]) -> tuple[str, str | None]:
    """How a run was started: ('backfill', id), ('scheduled', None) or ('manual', None)."""
    if tags.get(BACKFILL_TAG):
        return "backfill", tags[BACKFILL_TAG]
    if tags.get(SCHEDULE_TAG):
        return "scheduled", None
    return "manual", None


def describe_report(report: ReportConfig) -> str:
    query = (
        f"```sql\n{report.sql}\n```"
        if report.sql
        else f"Saved AMC workflow `{report.workflow_id}`."
    )
    return (
        f"{report.description or 'AMC report ' + report.name}\n\n"
        f"Collected weekly from AMC instance `{report.instance.alias}` "
        f"(`{report.instance.instance_id}`), weeks starting on {report.week_starts_on} in "
        f"{report.timezone}; a week is final {report.lag_days} days after it ends. Each partition "
        f"is one week: rows land in `amc_results.{report.name}` with their `execution_id`.\n\n"
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
        week = date.fromisoformat(context.partition_key)
        kind, backfill_id = collection_type(context.run.tags)
        collection_id = store.start_collection(
            report=report.name,
            collection_type=kind,
            dagster_run_id=context.run.run_id,
            backfill_id=backfill_id,
            weeks=[week],
        )
        collector = WeekCollector(
            report,
            amc.get_client(instance, context.log),
            store,
            log=context.log,
            poll=amc.poll_policy,
            rejection=amc.rejection_policy,
        )
        instance_ = context.instance
        try:
            outcome = collector.collect(
                week,
                dagster_run_id=context.run.run_id,
                collection_id=collection_id,
                run_is_alive=lambda run_id: _run_is_alive(instance_, run_id),
            )
        except CollectionError as exc:
            store.finish_collection(
                collection_id, status="failed", weeks_completed=0, weeks_failed=1
            )
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "execution_id": str(exc.execution_id or ""),
                    "amc_execution_id": exc.amc_execution_id or "",
                },
            ) from None
        except BaseException:
            store.finish_collection(
                collection_id, status="cancelled", weeks_completed=0, weeks_failed=1
            )
            raise
        store.finish_collection(
            collection_id, status="completed", weeks_completed=1, weeks_failed=0
        )
        return dg.MaterializeResult(metadata=materialization_metadata(report, store, outcome))

    return collect_week


def _run_is_alive(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and not run.is_finished
