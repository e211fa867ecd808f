"""What the warehouse holds that the current reports config no longer has: weeks of a report (or
of a report on an instance) the config does not name, so their Dagster assets are gone; results
tables of no configured report; and columns of a report's table that its current SQL does not
select (left by an earlier query, or by another config sharing the warehouse: the table is
widened, never narrowed). Reported by `amc-reports verify` as notes; nothing is changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from amc_reports.warehouse.identifiers import LINEAGE_COLUMNS, table_name_for_report
from amc_reports.warehouse.store import Warehouse


@dataclass(frozen=True)
class ConfiguredReport:
    """A report as the config has it: its instances, and the columns its SQL selects (None when
    they are not known: a saved workflow, or a query whose columns are not all plain names)."""

    instances: frozenset[str]
    columns: frozenset[str] | None


def drift(warehouse: Warehouse, configured: Mapping[str, ConfiguredReport]) -> list[str]:
    """One line per asset, table or column the warehouse has and the config does not."""
    notes = []
    weeks = Counter((w.report, w.amc_instance) for w in warehouse.list_weeks())
    for (report, instance), count in sorted(weeks.items()):
        own = configured.get(report)
        if own is None or instance not in own.instances:
            where = "report" if own is None else f"instance {instance!r} of report"
            notes.append(
                f"asset amc/{instance}/{report}: {count} week(s) recorded, but the {where} "
                f"{report!r} is not in the config"
            )
    tables = {table_name_for_report(name): name for name in configured}
    for table in _results_tables(warehouse):
        if table not in tables:
            notes.append(
                f"table {warehouse.results_schema}.{table}: no report of the config writes it"
            )
    for name, report in sorted(configured.items()):
        if report.columns is None:
            continue
        stored = [c for c, _ in warehouse.table_columns(name) if c not in LINEAGE_COLUMNS]
        extra = [c for c in stored if c not in report.columns]
        if extra:
            notes.append(
                f"table {warehouse.results_schema}.{table_name_for_report(name)}: column(s) "
                f"{', '.join(extra)} not selected by the SQL of report {name!r} (from an earlier "
                "query or another config; empty in the weeks collected since)"
            )
    return notes


def _results_tables(warehouse: Warehouse) -> list[str]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " ORDER BY c.relname",
            (warehouse.results_schema,),
        ).fetchall()
    return [row[0] for row in rows]
