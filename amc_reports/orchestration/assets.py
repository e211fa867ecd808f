"""One weekly-partitioned asset per report: materializing week W collects W from AMC."""

import warnings
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from amc_reports.collection import (
    BatchOutcome,
    CollectionError,
    RunInfo,
    WeekCollector,
    collect_weeks,
)
from amc_reports.config import InstanceConfig, ReportConfig
from amc_reports.orchestration.checks import planned_checks_of_week, uncollected_week_evaluations
from amc_reports.orchestration.metadata import failure_observation, materialization_metadata
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import AmcResource, WarehouseResource
from amc_reports.orchestration.runs import (
    FAILURE_KIND_KEY,
    asks_new_execution,
    first_attempt,
    run_is_alive,
)
from amc_reports.warehouse import CollectionType, FailureKind
from amc_reports.weeks import DAYS_PER_WEEK, hidden_weeks

# BackfillPolicy is beta in Dagster 1.13; we use it knowingly for reports that batch weeks.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

BACKFILL_TAG = "dagster/backfill"
# Set by Dagster on every re-execution (a run retry, "re-execute from failure"): the first run.
ROOT_RUN_TAG = "dagster/root_run_id"
SCHEDULE_TAG = "dagster/schedule_name"


def collection_type(tags: Mapping[str, str]) -> tuple[CollectionType, str | None]:
    """How a run was started: (backfill, its id), (scheduled, None) or (manual, None)."""
    if tags.get(BACKFILL_TAG):
        return CollectionType.BACKFILL, tags[BACKFILL_TAG]
    if tags.get(SCHEDULE_TAG):
        return CollectionType.SCHEDULED, None
    return CollectionType.MANUAL, None


def describe_report(report: ReportConfig, instance: InstanceConfig) -> str:
    query = (
        f"```sql\n{report.sql}\n```"
        if report.sql
        else f"Runs the saved AMC workflow {report.workflow_id}."
    )
    if report.collects_provisional:
        offer = (
            "Weeks are collected as soon as they end, as PROVISIONAL (AMC still attributes "
            "conversions to them), and collected again once, automatically, when they are final; "
            "what changed is recorded."
        )
    else:
        hidden = hidden_weeks(report.lag_days, collects_provisional=False)
        offer = (
            "Only final weeks are offered: a week becomes a partition once it is final, "
            f"{DAYS_PER_WEEK * (1 + hidden)} days after it starts (each week's `weeks` table "
            "says when)."
        )
    return (
        f"{report.description or 'AMC report ' + report.name}\n\n"
        f"Collected weekly from AMC instance {instance.alias} ({instance.instance_id}). Weeks "
        f"start on {report.week_starts_on.capitalize()} ({report.timezone}); a week is final "
        f"{report.lag_days} days after it ends. {offer} Each partition is one week; its rows land "
        f"in amc_results.{report.name} (amc_instance = '{instance.alias}'), each with the "
        f"execution_id that produced it.\n\n"
        f"{query}"
    )


def build_report_asset(
    report: ReportConfig, instance: InstanceConfig, sql_path: Path | None = None
) -> dg.AssetsDefinition:
    """The asset `amc/<instance>/<report>`; `sql_path`: the report's SQL file, linked from the
    asset page (code references)."""
    metadata: dict[str, Any] = {
        "dagster/table_name": f"amc_results.{report.name}",
        "amc_instance": f"{instance.alias} ({instance.instance_id}, {instance.region})",
        "week_starts_on": report.week_starts_on,
        "timezone": report.timezone,
        "lag_days": report.lag_days,
        "provisional_weeks": report.provisional_weeks,
    }
    if sql_path is not None:
        # Code references are beta in Dagster 1.13; used knowingly (a link to the report's SQL).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            metadata["dagster/code_references"] = dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=str(sql_path), line_number=1)]
            )

    @dg.asset(
        key=report_asset_key(report, instance),
        partitions_def=weekly_partitions(report),
        pool=instance.pool,
        group_name=f"amc_{instance.alias}",
        kinds={"amc", "postgres"},
        owners=list(report.owners),
        description=describe_report(report, instance),
        code_version=report.query_fingerprint[:16],
        # A week that is not final is not collected for a report that collects final weeks
        # only: its run succeeds without materializing it (nothing turns red).
        output_required=False,
        # Default: one run per week (own retries, own check results). Batched: several weeks per
        # run, collected concurrently, for large backfills (see BENCHMARKS.md). Beta in 1.13.
        backfill_policy=(
            dg.BackfillPolicy.multi_run(max_partitions_per_run=report.backfill_weeks_per_run)
            if report.backfill_weeks_per_run > 1
            else None
        ),
        metadata=metadata,
        tags={"amc_instance": instance.alias, "region": instance.region.lower()},
    )
    def collect_week(
        context: dg.AssetExecutionContext, amc: AmcResource, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        store = warehouse.get_warehouse()
        weeks = [date.fromisoformat(key) for key in context.partition_keys]
        kind, backfill_id = collection_type(context.run.tags)
        client = amc.get_client(instance, context.log)
        batch = collect_weeks(
            report.name,
            instance.alias,
            weeks,
            warehouse=store,
            collector=lambda sleep: WeekCollector(
                report,
                client,
                store,
                instance=instance,
                log=context.log,
                poll=amc.poll_policy,
                policy=amc.collection_policy,
                adoption_interval_seconds=amc.adoption_retry_seconds,
                sleep=sleep,
            ),
            run=RunInfo(
                run_id=context.run.run_id,
                collection_type=kind,
                backfill_id=backfill_id,
                root_run_id=context.run.root_run_id or context.run.tags.get(ROOT_RUN_TAG),
                run_is_alive=lambda run_id: run_is_alive(context.instance, run_id),
                first_attempt=first_attempt(context.run.tags),
                new_execution=asks_new_execution(context.run.tags),
            ),
        )
        for skipped in batch.skipped.values():
            context.log.info(str(skipped))
        metadata = {
            week: materialization_metadata(report, store, outcome)
            for week, outcome in batch.outcomes.items()
        }
        if batch.failures:
            record_failed_weeks(context, batch)
        if len(weeks) == 1:
            if batch.failures:
                [error] = batch.failures.values()
                raise dg.Failure(description=str(error), metadata=failure_metadata(batch))
            if metadata:
                yield dg.MaterializeResult(metadata=metadata[weeks[0]])
            return
        if batch.failures or batch.skipped:
            # Materializing the run's output would mark every week of the range: record the
            # weeks that were collected one by one instead (each with its own ids).
            for week, values in metadata.items():
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key, partition=week.isoformat(), metadata=values
                    )
                )
            if batch.failures:
                raise dg.Failure(
                    description=f"{len(batch.failures)} of {len(weeks)} weeks failed:\n"
                    + "\n".join(str(exc) for exc in batch.failures.values()),
                    metadata=failure_metadata(batch),
                )
            return
        for week, values in metadata.items():
            context.add_asset_metadata(values, partition_key=week.isoformat())
        yield dg.MaterializeResult()

    return collect_week


def record_failed_weeks(context: dg.AssetExecutionContext, batch: BatchOutcome) -> None:
    """Before the step fails: each failed week gets, on its partition, an observation saying why
    (Dagster's open-source event storage keeps no failed materialization), and the checks the run
    planned for it a result that is not "Execution failed" (see `uncollected_week_evaluations`)."""
    for week, error in batch.failures.items():
        partition = week.isoformat()
        description, metadata = failure_observation(error, week, context.run.run_id)
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                partition=partition,
                description=description,
                metadata=metadata,
            )
        )
        planned = planned_checks_of_week(
            context.instance, context.run.run_id, context.asset_key, partition
        )
        for evaluation in uncollected_week_evaluations(
            context.instance, planned, partition, error.kind.value
        ):
            context.log_event(evaluation)


def failure_metadata(batch: BatchOutcome) -> dict[str, object]:
    """What a failed run says about its failed weeks, for people and for alerts:
    `amc_reports/failure_kind` is the weeks' kind of failure (`query_error`, `transient`, `lost`,
    `circuit_breaker`, ... see `warehouse.FailureKind`; when the weeks of a batch differ,
    `circuit_breaker` if the breaker stopped some of them, else `mixed`), with the ids of a single
    week, or every week's in `amc_reports/failed_weeks`."""
    failures: dict[str, CollectionError] = {w.isoformat(): e for w, e in batch.failures.items()}
    kinds = {error.kind.value for error in failures.values()}
    if len(kinds) == 1:
        kind = kinds.pop()
    else:
        kind = (
            FailureKind.CIRCUIT_BREAKER.value if FailureKind.CIRCUIT_BREAKER in kinds else "mixed"
        )
    metadata: dict[str, object] = {
        FAILURE_KIND_KEY: kind,
        "amc_reports/circuit_breaker_tripped": any(e.tripped_breaker for e in failures.values()),
    }
    if len(failures) == 1:
        [(week, error)] = failures.items()
        metadata.update(
            {
                "week_start_date": week,
                "execution_id": str(error.execution_id or ""),
                "amc_execution_id": error.amc_execution_id or "",
            }
        )
    metadata["amc_reports/failed_weeks"] = dg.MetadataValue.json(
        {
            week: {
                "failure_kind": error.kind.value,
                "execution_id": str(error.execution_id or ""),
                "amc_execution_id": error.amc_execution_id or "",
                "circuit_breaker_tripped": error.tripped_breaker,
            }
            for week, error in failures.items()
        }
    )
    return metadata
