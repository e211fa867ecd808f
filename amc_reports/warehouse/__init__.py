"""The Postgres warehouse: execution tracking, collected weeks and per-report results tables."""

from amc_reports.warehouse.connection import DatabaseConfigError, resolve_database_url
from amc_reports.warehouse.loading import ResultLoadError
from amc_reports.warehouse.store import (
    COLLECTION_STATUSES,
    COLLECTION_TYPES,
    EXECUTION_STATUSES,
    WEEK_STATUSES,
    ClaimResult,
    CollectionRow,
    ExecutionRow,
    LoadResult,
    Warehouse,
    WeekRow,
)

__all__ = [
    "COLLECTION_STATUSES",
    "COLLECTION_TYPES",
    "EXECUTION_STATUSES",
    "WEEK_STATUSES",
    "ClaimResult",
    "CollectionRow",
    "DatabaseConfigError",
    "ExecutionRow",
    "LoadResult",
    "ResultLoadError",
    "Warehouse",
    "WeekRow",
    "resolve_database_url",
]
