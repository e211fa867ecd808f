"""One weekly-partitioned asset per report: materializing week W collects W from AMC."""

import threading
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from datetime import date

import dagster as dg

from amc_reports.collection import CollectionError, WeekCollector, WeekOutcome
from amc_reports.config import ReportConfig
from amc_reports.orchestration.metadata import materialization_metadata
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import AmcResource, WarehouseResource

# BackfillPolicy is beta in Dagster 1.13; we use it knowingly for reports that batch weeks.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

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
        collection_id = store.start_collection(
            report=report.name,
            collection_type=kind,
            dagster_run_id=context.run.run_id,
            backfill_id=backfill_id,
            weeks=weeks,
        )
        instance_ = context.instance

        def collect(week: date, sleep: Callable[[float], None] = time.sleep) -> WeekOutcome:
            collector = WeekCollector(
                report,
                amc.get_client(instance, context.log),
                store,
                log=context.log,
                poll=amc.poll_policy,
                rejection=amc.rejection_policy,
                sleep=sleep,
            )
            if len(weeks) > 1:
                reused = collector.already_collected(week, backfill_id)
                if reused is not None:
                    return reused
            return collector.collect(
                week,
                dagster_run_id=context.run.run_id,
                collection_id=collection_id,
                run_is_alive=lambda run_id: _run_is_alive(instance_, run_id),
            )

        try:
            if len(weeks) == 1:
                outcomes, failures = {weeks[0]: collect(weeks[0])}, {}
            else:
                outcomes, failures = _collect_concurrently(weeks, collect)
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
                collection_id, status="cancelled", weeks_completed=0, weeks_failed=len(weeks)
            )
            raise
        store.finish_collection(
            collection_id,
            status="failed" if failures else "completed",
            weeks_completed=len(outcomes),
            weeks_failed=len(failures),
        )
        metadata = {
            week: materialization_metadata(report, store, outcome)
            for week, outcome in outcomes.items()
        }
        if len(weeks) == 1:
            return dg.MaterializeResult(metadata=metadata[weeks[0]])
        if failures:
            # Raising drops the run's own materializations: record the weeks that did succeed
            # first, so each one's latest materialization still carries its ids.
            for week, values in metadata.items():
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key, partition=week.isoformat(), metadata=values
                    )
                )
            raise dg.Failure(
                description=f"{len(failures)} of {len(weeks)} weeks failed:\n"
                + "\n".join(str(exc) for exc in failures.values())
            )
        for week, values in metadata.items():
            context.add_asset_metadata(values, partition_key=week.isoformat())
        return dg.MaterializeResult()

    return collect_week


class RunInterrupted(BaseException):
    """Raised in a week's worker thread when the run was interrupted (terminated)."""


def _collect_concurrently(
    weeks: list[date], collect: Callable[..., WeekOutcome]
) -> tuple[dict[date, WeekOutcome], dict[date, CollectionError]]:
    """Collect several weeks at once (one thread each), for backfills that batch weeks in a run.

    An interrupt of the run (which Dagster raises in the main thread) stops every worker: each
    cancels its in-flight AMC execution, as a single-week run does.
    """
    stop = threading.Event()

    def interruptible_sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise RunInterrupted()

    outcomes: dict[date, WeekOutcome] = {}
    failures: dict[date, CollectionError] = {}
    with ThreadPoolExecutor(max_workers=len(weeks), thread_name_prefix="amc-week") as pool:
        futures = {pool.submit(collect, week, interruptible_sleep): week for week in weeks}
        try:
            for future in as_completed(futures):
                week = futures[future]
                try:
                    outcomes[week] = future.result()
                except CollectionError as exc:
                    failures[week] = exc
        except BaseException:
            stop.set()
            wait(futures)
            raise
    return dict(sorted(outcomes.items())), dict(sorted(failures.items()))


def _run_is_alive(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and not run.is_finished
