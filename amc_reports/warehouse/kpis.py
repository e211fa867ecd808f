"""The campaign KPI table (`amc_analytics.campaign_kpis_weekly`, migration 0006): the one writer.

Each KPI week is computed from one collected week of a report on an instance and names the
execution that produced that week (`execution_id`, `amc_execution_id`). Replacing a KPI week is
one transaction that first makes sure the upstream week still names that execution (a
re-collection committed in between makes the write refuse with `UpstreamChanged`), so a KPI row
never claims an execution whose rows it was not computed from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from amc_reports.warehouse.locks import advisory_key
from amc_reports.warehouse.rows import WeekKey

KPI_SCHEMA = "amc_analytics"
KPI_TABLE = "campaign_kpis_weekly"
KPI_TABLE_NAME = f"{KPI_SCHEMA}.{KPI_TABLE}"

# The columns a KPI row carries beyond its lineage, in table order.
KPI_VALUE_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "impressions",
    "clicks",
    "spend",
    "purchases",
    "sales",
    "new_to_brand_purchases",
    "click_through_rate",
    "cost_per_click",
    "return_on_ad_spend",
    "new_to_brand_share",
)
_LINEAGE = (
    "report",
    "amc_instance",
    "week_start_date",
    "execution_id",
    "amc_execution_id",
    "upstream_provisional",
    "computed_at",
    "dagster_run_id",
)


class UpstreamChanged(RuntimeError):
    """The upstream week no longer names the execution the KPIs were computed from."""


@dataclass(frozen=True)
class KpiSource:
    """The upstream week a KPI week is computed from: exactly one execution's rows."""

    key: WeekKey
    execution_id: uuid.UUID
    amc_execution_id: str
    provisional: bool


@dataclass(frozen=True)
class KpiWeekSummary:
    """What is stored for a KPI week: rows per upstream execution, when computed."""

    rows_by_execution: dict[uuid.UUID, int]
    amc_execution_ids: dict[uuid.UUID, str]
    computed_at: datetime | None

    @property
    def rows(self) -> int:
        return sum(self.rows_by_execution.values())


class CampaignKpis:
    """Writes and reads `amc_analytics.campaign_kpis_weekly`."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect

    def replace_week(
        self,
        source: KpiSource,
        rows: Sequence[Mapping[str, Any]],
        *,
        computed_at: datetime,
        run_id: str | None = None,
    ) -> int:
        """Replace the KPI week of `source.key` with `rows` (dicts of `KPI_VALUE_COLUMNS`) in one
        transaction; `UpstreamChanged` (nothing written) when the upstream week is no longer
        completed by `source.execution_id`. Returns the rows written."""
        key = source.key
        lineage = (
            key.report,
            key.instance,
            key.week_start,
            source.execution_id,
            source.amc_execution_id,
            source.provisional,
            computed_at,
            run_id,
        )
        columns = (*_LINEAGE, *KPI_VALUE_COLUMNS)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(KPI_SCHEMA, KPI_TABLE),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        with self._connect() as conn, conn.transaction():
            lock = advisory_key("campaign_kpis", key.report, key.instance, key.week_start)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            # FOR SHARE: a re-collection cannot complete the upstream week until we commit.
            upstream = conn.execute(
                "SELECT status, execution_id, amc_execution_id FROM report_data_weeks"
                " WHERE report = %s AND amc_instance = %s AND week_start_date = %s FOR SHARE",
                (key.report, key.instance, key.week_start),
            ).fetchone()
            expected = ("completed", source.execution_id, source.amc_execution_id)
            if upstream is None or tuple(upstream) != expected:
                now = "no row" if upstream is None else f"{upstream[0]}, execution {upstream[1]}"
                raise UpstreamChanged(
                    f"{key.describe()} changed while its KPIs were computed (they were computed "
                    f"from execution {source.execution_id}; the week is now {now}): nothing "
                    "written, materialize the KPI week again"
                )
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE report = %s AND amc_instance = %s"
                    " AND week_start_date = %s"
                ).format(sql.Identifier(KPI_SCHEMA, KPI_TABLE)),
                (key.report, key.instance, key.week_start),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    insert,
                    [(*lineage, *(row.get(c) for c in KPI_VALUE_COLUMNS)) for row in rows],
                )
        return len(rows)

    def week_summary(self, key: WeekKey) -> KpiWeekSummary:
        with self._connect() as conn:
            found = conn.execute(
                sql.SQL(
                    "SELECT execution_id, amc_execution_id, count(*), max(computed_at) FROM {}"
                    " WHERE report = %s AND amc_instance = %s AND week_start_date = %s"
                    " GROUP BY 1, 2"
                ).format(sql.Identifier(KPI_SCHEMA, KPI_TABLE)),
                (key.report, key.instance, key.week_start),
            ).fetchall()
        return KpiWeekSummary(
            rows_by_execution={execution: int(count) for execution, _, count, _ in found},
            amc_execution_ids={execution: amc for execution, amc, _, _ in found},
            computed_at=max((at for *_, at in found), default=None),
        )
