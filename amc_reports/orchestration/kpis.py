"""The example downstream asset: weekly campaign KPIs, `amc/<instance>/campaign_kpis`, one per
instance of the report that says `campaign_kpis: true` (in the shipped reports.yaml,
`weekly_campaign_performance`).

Each week is computed from the same week of the report on the same instance (same partitions,
so it offers only the weeks the report can have), in `amc_reports.analytics.kpis`, and stored in
`amc_analytics.campaign_kpis_weekly` with the upstream execution's ids. The report's ERROR checks
are blocking: the asset's automation condition waits until they passed for the week, and the
asset itself refuses a week whose lineage or row counts fail now, so that a manual
materialization cannot feed it either. Its own checks run after each KPI week, like the
report's (`checks.AFTER_EACH_COLLECTED_WEEK`).
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg

from amc_reports import quality
from amc_reports.analytics import kpis
from amc_reports.config import InstanceConfig, ReportConfig, ReportsConfig
from amc_reports.orchestration.checks import (
    LINEAGE_CHECK,
    ROW_COUNT_CHECK,
    WeeklyCheck,
    build_weekly_checks_op,
    latest_materialization_ids,
)
from amc_reports.orchestration.metadata import column_schema, table_cell
from amc_reports.orchestration.partitions import report_asset_key, weekly_partitions
from amc_reports.orchestration.resources import WarehouseResource
from amc_reports.warehouse import Warehouse, WeekKey
from amc_reports.warehouse.kpis import KPI_TABLE_NAME, KPI_VALUE_COLUMNS

KPI_ASSET = "campaign_kpis"
KPI_LINEAGE_CHECK = "kpi_lineage_current"
KPI_ROWS_CHECK = "kpi_rows_match_upstream"
PREVIEW_ROWS = 5

# Any week of the report (not only the newest) once it was materialized, and only when every
# blocking check of that week passed (the report's weekly checks run after each collected week).
KPI_AUTOMATION = (
    dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("after each collected week whose blocking checks passed")

_KPI_TYPES = {
    "campaign_id": "text",
    "campaign_name": "text",
    "impressions": "bigint",
    "clicks": "bigint",
    "purchases": "bigint",
    "new_to_brand_purchases": "bigint",
}


def kpi_asset_key(instance: InstanceConfig) -> dg.AssetKey:
    return dg.AssetKey(["amc", instance.alias, KPI_ASSET])


def upstream_gate(
    instance: dg.DagsterInstance, store: Warehouse, upstream: dg.AssetKey, key: WeekKey
) -> dict[str, quality.CheckOutcome]:
    """The upstream week's blocking checks, evaluated now (check name -> outcome)."""
    ids = latest_materialization_ids(instance, upstream, key.week_start.isoformat())
    return {
        LINEAGE_CHECK: quality.lineage(store, key, ids),
        ROW_COUNT_CHECK: quality.row_counts(store, key),
    }


def describe_kpis(report: ReportConfig, instance: InstanceConfig) -> str:
    return (
        f"Weekly KPIs per campaign of {report.name} on AMC instance {instance.alias}: CTR "
        "(clicks / impressions), CPC (spend / clicks), ROAS (sales / spend) and new-to-brand "
        "share (new-to-brand purchases / purchases); a ratio over zero is NULL. Computed with "
        f"pandas from the report's week, in {KPI_TABLE_NAME} with the execution_id and "
        "amc_execution_id of the upstream week it was computed from. A week is computed after "
        f"the report's week once its blocking checks ({LINEAGE_CHECK}, {ROW_COUNT_CHECK}) "
        "passed; a week failing them is refused, also when materialized by hand."
    )


def build_kpi_asset(report: ReportConfig, instance: InstanceConfig) -> dg.AssetsDefinition:
    upstream = report_asset_key(report, instance)
    asset_key = kpi_asset_key(instance)

    @dg.asset(
        key=asset_key,
        deps=[upstream],
        partitions_def=weekly_partitions(report),
        group_name=f"amc_{instance.alias}",
        kinds={"pandas", "postgres"},
        owners=list(report.owners),
        description=describe_kpis(report, instance),
        automation_condition=KPI_AUTOMATION,
        metadata={"dagster/table_name": KPI_TABLE_NAME, "upstream_report": report.name},
        tags={"amc_instance": instance.alias, "region": instance.region.lower()},
    )
    def campaign_kpis(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        key = WeekKey(report.name, instance.alias, date.fromisoformat(context.partition_key))
        store = warehouse.get_warehouse()
        try:
            week = kpis.compute_week(
                store,
                key,
                upstream_gate(context.instance, store, upstream, key),
                run_id=context.run.run_id,
            )
        except kpis.UpstreamBlocked as exc:
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "week_start_date": key.week_start.isoformat(),
                    "upstream_asset": upstream.to_user_string(),
                    "failing_upstream_checks": ", ".join(exc.failing),
                },
            ) from exc
        return dg.MaterializeResult(metadata=kpi_metadata(week))

    return campaign_kpis


def kpi_metadata(week: kpis.KpiWeek) -> dict[str, object]:
    source = week.source
    columns = [(name, _KPI_TYPES.get(name, "double precision")) for name in KPI_VALUE_COLUMNS]
    records = [
        dg.TableRecord({name: table_cell(value) for name, value in row.items()})
        for row in kpis.kpi_records(week.kpis.head(PREVIEW_ROWS))
    ]
    return {
        "execution_id": str(source.execution_id),
        "amc_execution_id": source.amc_execution_id,
        "upstream_provisional": source.provisional,
        "upstream_rows": week.upstream_rows,
        "computed_at": dg.MetadataValue.timestamp(week.computed_at),
        "dagster/row_count": len(week.kpis),
        "dagster/column_schema": column_schema(columns),
        "preview": dg.MetadataValue.table(records=records, schema=column_schema(columns)),
    }


KPI_CHECKS = (
    (
        KPI_LINEAGE_CHECK,
        dg.AssetCheckSeverity.WARN,
        "Warns when the KPI week was not computed from the execution that completes the "
        "upstream week now (stale after a re-collection): materialize the KPI week again.",
        kpis.kpi_lineage_current,
    ),
    (
        KPI_ROWS_CHECK,
        dg.AssetCheckSeverity.ERROR,
        "Passes when the KPI week has one row per campaign of the upstream execution's rows.",
        kpis.kpi_rows_match_upstream,
    ),
)


def build_kpi_checks(report: ReportConfig) -> dg.AssetChecksDefinition:
    """The KPI checks of a report's KPI assets (one op), run after each KPI week."""
    return build_weekly_checks_op(
        report,
        {kpi_asset_key(instance): instance for instance in report.instances},
        [
            WeeklyCheck(
                name,
                severity,
                description,
                lambda _context, store, _asset, _report, key, rule=rule: rule(store, key),
            )
            for name, severity, description, rule in KPI_CHECKS
        ],
        name=f"{report.name}__{KPI_ASSET}_checks",
        description=f"Checks of the campaign KPIs of {report.name} on each of its instances",
    )


@dataclass(frozen=True)
class KpiDefinitions:
    assets: list[dg.AssetsDefinition]
    checks: list[dg.AssetChecksDefinition]


def build_campaign_kpis(config: ReportsConfig) -> KpiDefinitions:
    """The KPI assets and checks of each report with `campaign_kpis: true`, one asset per
    instance. A report whose SQL does not select what the KPIs need (`kpis.REQUIRED_COLUMNS`),
    or two such reports on one instance, is refused with the reason."""
    assets, checks = [], []
    feeding: dict[str, str] = {}  # instance alias -> the report its KPIs come from
    for name, report in config.reports.items():
        if not report.campaign_kpis:
            continue
        if not kpis.feeds_campaign_kpis(report):
            raise ValueError(
                f"report {name!r} has campaign_kpis: true, but its SQL does not select every "
                f"column the KPIs need ({', '.join(kpis.REQUIRED_COLUMNS)}): add them, or "
                "remove campaign_kpis"
            )
        for instance in report.instances:
            key = kpi_asset_key(instance).to_user_string()
            if instance.alias in feeding:
                raise ValueError(
                    f"reports {feeding[instance.alias]!r} and {name!r} both have campaign_kpis: "
                    f"true on instance {instance.alias} (one asset, {key}): keep it on one"
                )
            if KPI_ASSET in config.reports and instance in config.reports[KPI_ASSET].instances:
                raise ValueError(
                    f"report {KPI_ASSET!r} on instance {instance.alias} has the asset key of the "
                    f"campaign KPIs of {name} ({key}): rename the report"
                )
            feeding[instance.alias] = name
            assets.append(build_kpi_asset(report, instance))
        checks.append(build_kpi_checks(report))
    return KpiDefinitions(assets, checks)
