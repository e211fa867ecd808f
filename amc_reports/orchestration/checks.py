"""Asset checks: per-week lineage, row counts, schema and emptiness; per-asset freshness.

The weekly checks speak only of collected weeks: they are not planned in the run that collects a
week (a failed collection would otherwise mark every check of the run "Execution failed"), but
run in a check run of their own once the run that materialized the week has ended (the
`amc_weekly_checks` sensor, `sensors/weekly_checks.py`). A week whose collection failed has no new
materialization, so its checks are not run: the failure shows as the week's failure only. When
the UI put the checks in the collecting run anyway, the asset step records a result for each one
before it fails (`uncollected_week_evaluations`: "Unchanged" or "Not checked", never
"Execution failed"); a run of the checks without a week ("Execute all") checks each asset's newest
collected week.

The ERROR checks (lineage, row counts) are blocking: an asset downstream of a report can wait
for them with `AutomationCondition.all_deps_blocking_checks_passed()`, so a week that fails
them never feeds it.

The weekly checks of a report (on each of its instances) are one subsettable op
(`multi_asset_check`), and the freshness checks of every asset one more: an agency's 10 reports
on 100 instances then cost 11 check ops, not 7,000.

Partitioned asset checks (`partitions_def=` on `@asset_check`) are a preview feature in
Dagster 1.13.
"""

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from amc_reports import quality
from amc_reports.config import InstanceConfig, ReportConfig, ReportTarget
from amc_reports.dagster_private import PartitionKeyFilter
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import WarehouseResource
from amc_reports.warehouse import Warehouse, WeekKey

LINEAGE_CHECK = "lineage_complete"
ROW_COUNT_CHECK = "row_counts_consistent"
SCHEMA_CHECK = "schema_stable"
NOT_EMPTY_CHECK = "not_empty"
FINAL_CHECK = "week_is_final"
RESTATEMENT_CHECK = "restatement_within_tolerance"
FRESHNESS_CHECK = "newest_final_week_collected"

WEEKLY_CHECKS = (
    LINEAGE_CHECK,
    ROW_COUNT_CHECK,
    SCHEMA_CHECK,
    NOT_EMPTY_CHECK,
    FINAL_CHECK,
    RESTATEMENT_CHECK,
)

# The rule the `amc_weekly_checks` sensor applies, as an automation condition: a week's checks are
# requested once its asset partition was materialized (a collection that failed materializes
# nothing), for any week, not while the week or the check is still running. The sensor applies it
# per run that ended; Dagster evaluates it only in the stopped `amc_weekly_checks_by_condition`
# sensor (see `sensors/weekly_checks.py`). Having a condition of their own also keeps the checks
# out of the
# runs that collect weeks: Dagster runs such a check only when it is requested.
AFTER_EACH_COLLECTED_WEEK = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after each collected week")

# We rely on partitioned checks knowingly (see the module docstring); say it once here, not on
# every load of the code location.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")


def _outcome_fields(
    outcome: quality.CheckOutcome, check_key: dg.AssetCheckKey, severity: dg.AssetCheckSeverity
) -> dict[str, Any]:
    """What Dagster's check result and check evaluation both hold of an outcome."""
    return {
        "asset_key": check_key.asset_key,
        "check_name": check_key.name,
        "passed": outcome.passed,
        "severity": severity,
        "description": outcome.description,
        "metadata": outcome.metadata,
    }


def check_result(
    outcome: quality.CheckOutcome, check_key: dg.AssetCheckKey, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(**_outcome_fields(outcome, check_key, severity))


def check_evaluation(
    outcome: quality.CheckOutcome,
    check_key: dg.AssetCheckKey,
    severity: dg.AssetCheckSeverity,
    partition: str | None,
    restates: dg.AssetCheckEvaluation | None = None,
) -> dg.AssetCheckEvaluation:
    """`outcome` as the result of the week `partition`; restating the evaluation `restates`, it
    keeps the materialization that one was of."""
    return dg.AssetCheckEvaluation(
        **_outcome_fields(outcome, check_key, severity),
        target_materialization_data=restates.target_materialization_data if restates else None,
        partition=partition,
    )


def _weeks(context: dg.AssetCheckExecutionContext) -> list[date]:
    """The week(s) the check runs for: one, or a range when a backfill batches weeks in a run."""
    return [date.fromisoformat(key) for key in context.partition_keys]


def evaluate_weeks(
    weeks: Sequence[date],
    check_key: dg.AssetCheckKey,
    rule: Callable[[date], quality.CheckOutcome],
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    """Apply a per-week rule; over a range, the result fails if any week fails and names them."""
    if len(weeks) == 1:
        return check_result(rule(weeks[0]), check_key, severity)
    outcomes = {week: rule(week) for week in weeks}
    failing = {w: o for w, o in outcomes.items() if not o.passed}
    if failing:
        description = f"{len(failing)} of {len(weeks)} weeks fail: " + " | ".join(
            f"{w.isoformat()}: {o.description}" for w, o in failing.items()
        )
    else:
        description = f"All {len(weeks)} weeks pass ({weeks[0]} to {weeks[-1]})."
    counts = {"weeks_checked": len(weeks), "weeks_failing": len(failing)}
    return check_result(quality.CheckOutcome(not failing, description, counts), check_key, severity)


def latest_materialization_ids(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dict[str, str | None] | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    metadata = records[0].asset_materialization.metadata
    return {
        name: (str(metadata[name].value) if name in metadata else None)
        for name in ("execution_id", "amc_execution_id")
    }


# A weekly rule: (check context, warehouse, asset key, report, the week's key) -> outcome.
WeeklyRule = Callable[
    [dg.AssetCheckExecutionContext, Warehouse, dg.AssetKey, ReportConfig, WeekKey],
    quality.CheckOutcome,
]


@dataclass(frozen=True)
class WeeklyCheck:
    name: str
    severity: dg.AssetCheckSeverity
    description: str
    rule: WeeklyRule


def _lineage_rule(
    context: dg.AssetCheckExecutionContext,
    store: Warehouse,
    asset_key: dg.AssetKey,
    _report: ReportConfig,
    key: WeekKey,
) -> quality.CheckOutcome:
    ids = latest_materialization_ids(context.instance, asset_key, key.week_start.isoformat())
    return quality.lineage(store, key, ids)


WEEKLY_CHECK_SPECS = (
    WeeklyCheck(
        LINEAGE_CHECK,
        dg.AssetCheckSeverity.ERROR,
        "Passes when the week's execution_id and amc_execution_id are the same in "
        "report_data_weeks, workflow_executions and its latest materialization. Fails "
        "(ERROR) otherwise: materialize the week again to repair it.",
        _lineage_rule,
    ),
    WeeklyCheck(
        ROW_COUNT_CHECK,
        dg.AssetCheckSeverity.ERROR,
        "Passes when the report's table holds exactly the week's record_count rows, all "
        "from the week's execution. Fails (ERROR) otherwise.",
        lambda _context, store, _asset, _report, key: quality.row_counts(store, key),
    ),
    WeeklyCheck(
        SCHEMA_CHECK,
        dg.AssetCheckSeverity.WARN,
        "Warns when the week's columns or types differ from the previous collected week "
        "(the SQL or AMC's schema changed).",
        lambda _context, store, _asset, _report, key: quality.schema_stable(store, key),
    ),
    WeeklyCheck(
        NOT_EMPTY_CHECK,
        dg.AssetCheckSeverity.WARN,
        "Warns when AMC returned no rows for the week (paused campaigns, or every row "
        "under AMC's privacy threshold).",
        lambda _context, store, _asset, _report, key: quality.not_empty(store, key),
    ),
    WeeklyCheck(
        FINAL_CHECK,
        dg.AssetCheckSeverity.WARN,
        "Warns while the week's numbers are PROVISIONAL: collected before the week was final "
        "(AMC attributes conversions up to 14 days late). Passes once a collection is final.",
        lambda _context, store, _asset, _report, key: quality.week_final(store, key),
    ),
    WeeklyCheck(
        RESTATEMENT_CHECK,
        dg.AssetCheckSeverity.WARN,
        "Warns when a week that was already final changed by more than the report's "
        "restatement_tolerance when collected again (row count or a numeric column's sum). A "
        "provisional week becoming final shows its change but does not warn.",
        lambda _context, store, _asset, report, key: quality.restatement_within_tolerance(
            store, key, report.restatement_tolerance
        ),
    ),
)


def build_report_checks(report: ReportConfig) -> dg.AssetChecksDefinition:
    """The weekly checks of a report on each of its instances: one op evaluating the selected
    ones (a run of one asset selects that asset's checks).

    One op per report rather than one per (instance, check) keeps an agency's code location
    small: 100 instances x 10 reports x 6 checks would otherwise be 6,000 ops to build at every
    load. A check that cannot be evaluated does not stop the others: its error is raised after
    them, and Dagster records an execution failure for the checks without a result.
    """
    return build_weekly_checks_op(
        report,
        {report_asset_key(report, instance): instance for instance in report.instances},
        WEEKLY_CHECK_SPECS,
        name=f"{report.name}__weekly_checks",
        description=f"Weekly checks of {report.name} on each of its instances",
    )


def build_weekly_checks_op(
    report: ReportConfig,
    assets: Mapping[dg.AssetKey, InstanceConfig],
    specs: Sequence[WeeklyCheck],
    *,
    name: str,
    description: str,
) -> dg.AssetChecksDefinition:
    """One subsettable op of weekly `specs` on each of `assets` (the report's weeks, one asset
    per instance), run after each week is materialized; ERROR checks are blocking."""
    checks = {check.name: check for check in specs}

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                check.name,
                asset=asset_key,
                partitions_def=weekly_partitions(report),
                description=check.description,
                blocking=check.severity == dg.AssetCheckSeverity.ERROR,
                automation_condition=AFTER_EACH_COLLECTED_WEEK,
            )
            for asset_key in assets
            for check in specs
        ],
        can_subset=True,
        name=name,
        description=description,
    )
    def weekly_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        store = warehouse.get_warehouse()
        if not runs_for_weeks(context):
            # "Execute all" on an asset's Checks tab launches its checks without a week: they
            # check the newest collected week of each asset (none collected: nothing to check).
            for evaluation in newest_week_evaluations(context, store, report, assets, checks):
                context.op_execution_context.log_event(evaluation)
            return

        collected: dict[str, list[date]] = {}

        def evaluate(check_key: dg.AssetCheckKey) -> dg.AssetCheckResult | None:
            check = checks[check_key.name]
            alias = assets[check_key.asset_key].alias
            if alias not in collected:
                collected[alias] = collected_weeks(context, store, report, alias)
            if not collected[alias]:
                return None
            return evaluate_weeks(
                collected[alias],
                check_key,
                lambda week: check.rule(
                    context, store, check_key.asset_key, report, WeekKey(report.name, alias, week)
                ),
                check.severity,
            )

        yield from each_selected(context, evaluate, order=list(checks))

    return weekly_checks


def collected_weeks(
    context: dg.AssetCheckExecutionContext, store: Warehouse, report: ReportConfig, alias: str
) -> list[date]:
    """The run's weeks that hold a collection: a week chosen in the UI that was never collected
    (or whose last attempt failed) is not checked (its planned checks end skipped)."""
    weeks = []
    for week in _weeks(context):
        row = store.get_week_by_key(WeekKey(report.name, alias, week))
        if row is not None and row.is_completed:
            weeks.append(week)
        else:
            context.log.info(
                f"{report.name} on {alias}, week {week}: not collected "
                f"({row.status if row else 'never attempted'}), not checked"
            )
    return weeks


def runs_for_weeks(context: dg.AssetCheckExecutionContext) -> bool:
    """Whether the check run names its week(s): a run the sensor requested, a week or a range
    chosen in the UI; not a run of the Checks tab's "Execute all"."""
    op_context = context.op_execution_context
    return op_context.has_partition_key or op_context.has_partition_key_range


def newest_week_evaluations(
    context: dg.AssetCheckExecutionContext,
    store: Warehouse,
    report: ReportConfig,
    assets: Mapping[dg.AssetKey, InstanceConfig],
    checks: Mapping[str, WeeklyCheck],
) -> list[dg.AssetCheckEvaluation]:
    """The selected checks evaluated on each asset's newest collected week, as results of that
    week's partition."""
    evaluations = []
    newest: dict[dg.AssetKey, date | None] = {}
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
        instance = assets[check_key.asset_key]
        if check_key.asset_key not in newest:
            collected = [
                row.week_start_date
                for row in store.list_weeks(report.name, instance.alias)
                if row.is_completed
            ]
            newest[check_key.asset_key] = max(collected, default=None)
            context.log.info(
                f"{check_key.asset_key.to_user_string()}: "
                + (
                    f"checking its newest collected week, {newest[check_key.asset_key]}"
                    if collected
                    else "no week collected yet, nothing to check"
                )
            )
        week = newest[check_key.asset_key]
        if week is None:
            continue
        check = checks[check_key.name]
        outcome = check.rule(
            context, store, check_key.asset_key, report, WeekKey(report.name, instance.alias, week)
        )
        evaluations.append(check_evaluation(outcome, check_key, check.severity, week.isoformat()))
    return evaluations


def build_freshness_checks(targets: Sequence[ReportTarget]) -> dg.AssetChecksDefinition:
    """Whether each asset's newest final week is collected: one op for every target (the daily
    freshness job is then one step, not one per asset)."""
    by_key = {
        dg.AssetCheckKey(report_asset_key(report, instance), FRESHNESS_CHECK): (report, instance)
        for report, instance in targets
    }

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key.asset_key,
                description=(
                    f"Warns when the newest final week (final {report.lag_days} days after it "
                    f"ends, {report.timezone}) is not collected yet, or only as provisional."
                ),
            )
            for key, (report, _instance) in by_key.items()
        ],
        can_subset=True,
        name=FRESHNESS_CHECK,
        description="Is the newest final week of each asset collected?",
    )
    def newest_final_week_collected(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        # A run that collects weeks of an asset (launched from the UI with the asset's checks, or
        # a backfill: both plan every check of the asset that has no automation condition of its
        # own) is no time to judge its freshness: a historical backfill would report the newest
        # week stale from every run. Not evaluated there; the daily job evaluates it.
        job = context.op_execution_context.job_def
        collecting = {*(context.run.asset_selection or ()), *job.asset_layer.executable_asset_keys}
        skipped = [k for k in context.selected_asset_check_keys if k.asset_key in collecting]
        if skipped:
            context.log.info(
                f"{FRESHNESS_CHECK} not evaluated for "
                + ", ".join(k.asset_key.to_user_string() for k in skipped)
                + ": this run collects them (the daily freshness job checks them)."
            )
        store = warehouse.get_warehouse()

        def evaluate(check_key: dg.AssetCheckKey) -> dg.AssetCheckResult:
            report, instance = by_key[check_key]
            outcome = quality.freshness(store, report, instance)
            return check_result(outcome, check_key, dg.AssetCheckSeverity.WARN)

        yield from each_selected(context, evaluate, order=None, skip=set(skipped))

    return newest_final_week_collected


def each_selected(
    context: dg.AssetCheckExecutionContext,
    evaluate: Callable[[dg.AssetCheckKey], dg.AssetCheckResult | None],
    order: list[str] | None,
    skip: set[dg.AssetCheckKey] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Evaluate every selected check (but those in `skip`: the op yields nothing for them, so
    no evaluation is recorded; an evaluation of None: nothing to check, no result either); an error
    is raised after the others were evaluated."""
    selected = sorted(
        set(context.selected_asset_check_keys) - (skip or set()),
        key=lambda k: (k.asset_key.to_user_string(), order.index(k.name) if order else 0),
    )
    errors: list[tuple[dg.AssetCheckKey, Exception]] = []
    for check_key in selected:
        try:
            result = evaluate(check_key)
        except Exception as exc:
            context.log.error(f"check {check_key.to_user_string()} could not run: {exc}")
            errors.append((check_key, exc))
            continue
        if result is not None:
            yield result
    if errors:
        check_key, first = errors[0]
        names = ", ".join(k.to_user_string() for k, _ in errors)
        raise RuntimeError(f"{len(errors)} check(s) could not run ({names}): {first}") from first


# -- a week whose collection failed in a run that planned its checks -------------------------------


def planned_checks_of_week(
    instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey, week: str
) -> list[tuple[dg.AssetCheckKey, str | None]]:
    """The checks of `asset_key` a run planned for `week` (the UI's Materialize adds an asset's
    checks to the run), each with the partition it was planned on (None: a check without weeks,
    such as freshness): Dagster resolves each one without a result in a failed run as
    "Execution failed"."""
    found: set[tuple[dg.AssetCheckKey, str | None]] = set()
    for entry in instance.all_logs(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
    ):
        planned = entry.dagster_event.asset_check_planned_data if entry.dagster_event else None
        if planned is None or planned.asset_key != asset_key:
            continue
        subset = planned.partitions_subset
        if subset is None:
            found.add((dg.AssetCheckKey(asset_key, planned.check_name), None))
        elif week in subset.get_partition_keys():
            found.add((dg.AssetCheckKey(asset_key, planned.check_name), week))
    return sorted(found, key=lambda planned: planned[0].name)


def latest_evaluation(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str | None
) -> tuple[str, dg.AssetCheckEvaluation] | None:
    """The latest result of a check on a week (None: of a check without weeks), with its run id,
    if it was ever evaluated."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=20, partition_filter=PartitionKeyFilter(key=partition)
    )
    for record in history:
        evaluation = record.evaluation
        if isinstance(evaluation, dg.AssetCheckEvaluation):
            return record.run_id, evaluation
    return None


def uncollected_week_evaluations(
    instance: dg.DagsterInstance,
    planned: Sequence[tuple[dg.AssetCheckKey, str | None]],
    week: str,
    failure_kind: str,
) -> list[dg.AssetCheckEvaluation]:
    """What the checks planned for a week whose collection just failed record, so that none of
    them is "Execution failed" nor failed because of it: a week checked before keeps its latest
    result (nothing new was stored: its data is the one those results speak of), restated as
    such; a week never checked records that it was not checked (passed: Dagster has no third
    outcome; `checked: false` says so). See docs/design.md, "A failed week and its checks"."""
    severities = {check.name: check.severity for check in WEEKLY_CHECK_SPECS}
    evaluations = []
    for key, partition in planned:
        earlier = latest_evaluation(instance, key, partition)
        if earlier is None:
            not_checked = quality.CheckOutcome(
                True,
                f"Not checked: week {week} was not collected (its collection failed: "
                f"{failure_kind}), so nothing is stored to check. Its checks run once it is "
                "collected.",
                {"checked": False, "failure_kind": failure_kind},
            )
            severity = severities.get(key.name, dg.AssetCheckSeverity.WARN)
            evaluations.append(check_evaluation(not_checked, key, severity, partition))
            continue
        run_id, previous = earlier
        unchanged = quality.CheckOutcome(
            previous.passed,
            f"Unchanged: collecting week {week} again failed ({failure_kind}) and stored nothing "
            f"new. Its result from run {run_id[:8]}: {previous.description or ''}",
            {**previous.metadata, "checked": False, "result_of_run": run_id},
        )
        evaluations.append(check_evaluation(unchanged, key, previous.severity, partition, previous))
    return evaluations
