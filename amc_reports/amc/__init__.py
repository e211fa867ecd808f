"""Amazon Marketing Cloud: the reporting API client (``AmcClient``).

Knows nothing of Dagster or Postgres. The sandbox that stands in for AMC is in `amc_reports.local`.
"""

from amc_reports.amc.client import AmcClient
from amc_reports.amc.download import ResultSource, ResultStream
from amc_reports.amc.errors import (
    AmcApiError,
    AmcAuthError,
    AmcCreateOutcomeUnknownError,
    AmcDownloadError,
    AmcError,
    AmcMissingExecutionIdError,
    AmcRetryBudgetExceeded,
)
from amc_reports.amc.models import (
    AmcClientConfig,
    AmcCredentials,
    ExecutionRecord,
    ExecutionStatus,
    format_window_time,
    parse_amc_time,
)

__all__ = [
    "AmcApiError",
    "AmcAuthError",
    "AmcClient",
    "AmcClientConfig",
    "AmcCreateOutcomeUnknownError",
    "AmcCredentials",
    "AmcDownloadError",
    "AmcError",
    "AmcMissingExecutionIdError",
    "AmcRetryBudgetExceeded",
    "ExecutionRecord",
    "ExecutionStatus",
    "ResultSource",
    "ResultStream",
    "format_window_time",
    "parse_amc_time",
]
