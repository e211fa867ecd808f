"""Collect the weeks of one run: one week, or a batch of weeks collected concurrently.

This is what a materialization of a report asset does, without Dagster: record the collection (one
row per run and report), reuse the weeks a retried batch's run family already collected, collect the
others (one thread per week in a batch), and record how the collection ended. An interrupt of the
run (which arrives in the calling thread) stops every worker: each cancels its in-flight AMC
execution, as a single-week run does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import date

from amc_reports.collection.outcome import CollectionError, WeekNotFinal, WeekOutcome
from amc_reports.collection.week import WeekCollector
from amc_reports.warehouse import CollectionStatus, CollectionType, LoadResult, Warehouse

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RunInfo:
    """The run collecting the weeks, as the collection needs to know it."""

    run_id: str
    collection_type: CollectionType
    backfill_id: str | None = None
    # Dagster's root run (`dagster/root_run_id`; None: this run is its own root). A retry of a
    # batch reuses the weeks its run family already collected.
    root_run_id: str | None = None
    # Whether another run (the holder of a week) is still alive: a week left running by a run
    # that has ended is taken over.
    run_is_alive: Callable[[str], bool] | None = None
    # The attempt the weeks' collections start at: 1, or later for a run launched as the next
    # attempt of a week (the reconciler's, after AMC failed it on its side).
    first_attempt: int = 1
    # Submit a new AMC execution for each week instead of resuming one (asked for by a person).
    new_execution: bool = False


@dataclass
class BatchOutcome:
    """The weeks collected and the weeks that failed, each in week order."""

    outcomes: dict[date, WeekOutcome] = field(default_factory=dict)
    failures: dict[date, CollectionError] = field(default_factory=dict)
    # Weeks not final yet, of a report that collects final weeks only: nothing was submitted.
    skipped: dict[date, WeekNotFinal] = field(default_factory=dict)

    @property
    def status(self) -> CollectionStatus:
        return CollectionStatus.FAILED if self.failures else CollectionStatus.COMPLETED


class RunInterrupted(BaseException):
    """Raised in a week's worker thread when the run was interrupted (terminated)."""


def collect_weeks(
    report: str,
    instance: str,
    weeks: list[date],
    *,
    warehouse: Warehouse,
    collector: Callable[[Sleep], WeekCollector],
    run: RunInfo,
) -> BatchOutcome:
    """Collect `weeks` of `report` for `run`; failures are returned, interrupts propagate.

    `collector(sleep)` builds the week collector a worker uses (each worker sleeps with its own
    interruptible `sleep`).
    """
    collection_id = warehouse.start_collection(
        report=report,
        instance=instance,
        collection_type=run.collection_type,
        dagster_run_id=run.run_id,
        backfill_id=run.backfill_id,
        weeks=weeks,
        root_run_id=run.root_run_id,
    )

    def collect_one(week: date, sleep: Sleep = time.sleep) -> WeekOutcome:
        week_collector = collector(sleep)
        if len(weeks) > 1:
            reused = already_collected(week_collector, week, run.root_run_id or run.run_id)
            if reused is not None:
                return reused
        return week_collector.collect(
            week,
            dagster_run_id=run.run_id,
            collection_id=collection_id,
            run_is_alive=run.run_is_alive,
            backfill_id=run.backfill_id,
            first_attempt=run.first_attempt,
            new_execution=run.new_execution,
        )

    try:
        if len(weeks) == 1:
            batch = BatchOutcome()
            try:
                batch.outcomes[weeks[0]] = collect_one(weeks[0])
            except WeekNotFinal as exc:
                batch.skipped[weeks[0]] = exc
            except CollectionError as exc:
                batch.failures[weeks[0]] = exc
        else:
            batch = _collect_concurrently(weeks, collect_one)
    except BaseException:
        warehouse.finish_collection(
            collection_id,
            status=CollectionStatus.CANCELLED,
            weeks_completed=0,
            weeks_failed=len(weeks),
        )
        raise
    warehouse.finish_collection(
        collection_id,
        status=batch.status,
        weeks_completed=len(batch.outcomes),
        weeks_failed=len(batch.failures),
    )
    return batch


def _collect_concurrently(
    weeks: list[date], collect_one: Callable[[date, Sleep], WeekOutcome]
) -> BatchOutcome:
    """One thread per week; the first interrupt in the calling thread stops them all."""
    stop = threading.Event()

    def interruptible_sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise RunInterrupted()

    batch = BatchOutcome()
    with ThreadPoolExecutor(max_workers=len(weeks), thread_name_prefix="amc-week") as pool:
        futures = {pool.submit(collect_one, week, interruptible_sleep): week for week in weeks}
        try:
            for future in as_completed(futures):
                week = futures[future]
                try:
                    batch.outcomes[week] = future.result()
                except WeekNotFinal as exc:
                    batch.skipped[week] = exc
                except CollectionError as exc:
                    batch.failures[week] = exc
        except BaseException:
            stop.set()
            wait(futures)
            raise
    batch.outcomes = dict(sorted(batch.outcomes.items()))
    batch.failures = dict(sorted(batch.failures.items()))
    batch.skipped = dict(sorted(batch.skipped.items()))
    return batch


def already_collected(
    collector: WeekCollector, week_start: date, root_run_id: str
) -> WeekOutcome | None:
    """The week's outcome if a run of the same family (Dagster's root run `root_run_id`)
    already collected it, else None.

    A retried run of a batch of weeks must not pay AMC again for the weeks its predecessor
    finished: those are reused (their stored ids, counts and AMC record), also when the
    retry comes after its backfill ended (it then carries no backfill tag). A new backfill
    of the same weeks, or a new manual run, is a new family: it collects again on purpose.
    """
    row = collector.warehouse.get_week_by_key(collector.key(week_start))
    if row is None or not row.is_completed or row.collection_id is None:
        return None
    collection = collector.warehouse.get_collection(row.collection_id)
    if collection is None or collection.root_run_id != root_run_id:
        return None
    if row.execution_id is None or not row.amc_execution_id:
        return None
    execution = collector.warehouse.get_execution(row.execution_id)
    version = collector.warehouse.get_version(row.execution_id)
    record = collector.amc.get_execution(collector.instance_id, row.amc_execution_id)
    collector.log.info(
        f"{collector.describe(collector.window(week_start))} was already collected by run "
        f"{collection.dagster_run_id} of this run's family (execution_id {row.execution_id}): "
        "reused, not submitted again"
    )
    return WeekOutcome(
        report=collector.report.name,
        window=collector.window(week_start),
        execution_id=row.execution_id,
        amc_execution_id=row.amc_execution_id,
        resumed=True,
        record=record,
        load=LoadResult(
            record_count=row.record_count or 0,
            checksum=row.data_checksum or "",
            bytes=(execution.bytes if execution else None) or 0,
            seconds=0.0,
            columns=list(row.result_columns or []),
            provisional=row.provisional,
            restatement=version.restatement if version else None,
            amc_source=row.amc_source,
            amc_api_host=row.amc_api_host,
        ),
        submissions=0,
        data_gaps=list(record.data_gaps),
        instance=collector.instance.alias,
        provisional=row.provisional,
        final_at=collector.final_at(week_start),
    )
