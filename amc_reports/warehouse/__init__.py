"""The Postgres warehouse: execution tracking, collected weeks and per-report results tables.

`Warehouse` reads; `Warehouse.life` (`week_life.WeekLife`) is the one writer of weeks and
executions; `lineage` judges whether a week is traced to its AMC execution.
"""

from amc_reports.warehouse.breakers import BreakerState, CircuitBreakers
from amc_reports.warehouse.connection import DatabaseConfigError
from amc_reports.warehouse.loading import LoadResult, ResultLoadError
from amc_reports.warehouse.rows import (
    CollectionRow,
    CollectionStatus,
    CollectionType,
    ExecutionRow,
    ExecutionState,
    FailureKind,
    WeekKey,
    WeekRow,
    WeekStatus,
)
from amc_reports.warehouse.store import Warehouse
from amc_reports.warehouse.week_life import (
    Claim,
    ClaimLost,
    MixedAmcSourceError,
    Submission,
    WeekLife,
)

__all__ = [
    "BreakerState",
    "CircuitBreakers",
    "Claim",
    "ClaimLost",
    "MixedAmcSourceError",
    "CollectionRow",
    "CollectionStatus",
    "CollectionType",
    "DatabaseConfigError",
    "ExecutionRow",
    "ExecutionState",
    "FailureKind",
    "LoadResult",
    "ResultLoadError",
    "Submission",
    "Warehouse",
    "WeekKey",
    "WeekLife",
    "WeekRow",
    "WeekStatus",
]
