"""Typed values of the AMC client: configuration, credentials, execution records."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from amc_reports.amc.redact import AMC_MESSAGE_CHARS, REDACTED, redact_and_cut, register_secret

log = logging.getLogger("amc_reports.amc.client")

REGION_API_HOSTS = {
    "NA": "https://advertising-api.amazon.com",
    "EU": "https://advertising-api-eu.amazon.com",
    "FE": "https://advertising-api-fe.amazon.com",
}
REGION_TOKEN_URLS = {
    "NA": "https://api.amazon.com/auth/o2/token",
    "EU": "https://api.amazon.co.uk/auth/o2/token",
    "FE": "https://api.amazon.co.jp/auth/o2/token",
}

Region = Literal["NA", "EU", "FE"]


class ExecutionStatus(StrEnum):
    """Status of an AMC workflow execution."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PUBLISHING = "PUBLISHING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_success(self) -> bool:
        return self is ExecutionStatus.SUCCEEDED

    @classmethod
    def parse(cls, value: object) -> ExecutionStatus:
        """Parse AMC's status string; an unknown one is treated as still running (and logged)."""
        text = str(value or "").strip().upper()
        try:
            return cls(text)
        except ValueError:
            log.warning("AMC returned an unknown execution status %r; treating it as RUNNING", text)
            return cls.RUNNING

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.REJECTED,
    }
)


def parse_amc_time(value: object) -> datetime | None:
    """An AMC timestamp (ISO 8601 with ``Z``/offset, or epoch millis) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{12,}", text):
            return datetime.fromtimestamp(int(text) / 1000.0, tz=UTC)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            log.warning("unparseable AMC timestamp %r", value)
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_window_time(value: str | datetime) -> str:
    """A time-window bound as AMC wants it: ``YYYY-MM-DDTHH:MM:SS`` with no zone suffix."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError(
                "time window bounds are wall-clock times in timeWindowTimeZone; pass a naive "
                f"datetime or a 'YYYY-MM-DDTHH:MM:SS' string, not {value.isoformat()!r}"
            )
        return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", text):
        raise ValueError(f"time window bound must look like 'YYYY-MM-DDTHH:MM:SS', got {value!r}")
    datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")  # rejects impossible dates
    return text


def format_amc_timestamp(value: str | datetime) -> str:
    """An instant as AMC's list filters want it: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if isinstance(value, str):
        return value
    dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ExecutionRecord:
    """One AMC workflow execution as returned by the API (``raw`` keeps the full response)."""

    execution_id: str
    status: ExecutionStatus
    workflow_id: str | None = None
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    time_window_start: str | None = None
    time_window_end: str | None = None
    time_window_time_zone: str | None = None
    failure_reason: str | None = None
    validation_errors: list[str] = field(default_factory=list)
    data_gaps: list[dict] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_success(self) -> bool:
        return self.status.is_success

    @classmethod
    def from_api(cls, data: dict[str, Any], *, execution_id: str | None = None) -> ExecutionRecord:
        """Build a record from an AMC execution JSON object (tolerant of missing fields)."""
        exec_id = execution_id or str(data.get("workflowExecutionId") or "")
        errors = data.get("validationErrors") or []
        if isinstance(errors, str):
            errors = [errors]
        gaps = data.get("dataGaps") or []
        if isinstance(gaps, dict):
            gaps = [gaps]
        return cls(
            execution_id=exec_id,
            status=ExecutionStatus.parse(data.get("status") or "PENDING"),
            workflow_id=_opt_str(data.get("workflowId")),
            create_time=parse_amc_time(data.get("createTime") or data.get("creationTime")),
            start_time=parse_amc_time(data.get("startTime")),
            end_time=parse_amc_time(data.get("endTime")),
            time_window_start=_opt_str(data.get("timeWindowStart")),
            time_window_end=_opt_str(data.get("timeWindowEnd")),
            time_window_time_zone=_opt_str(data.get("timeWindowTimeZone")),
            failure_reason=_reason(data.get("failureReason")),
            validation_errors=[
                redact_and_cut(e, VALIDATION_ERROR_CHARS) for e in errors[:MAX_VALIDATION_ERRORS]
            ],
            data_gaps=[g if isinstance(g, dict) else {"value": g} for g in gaps],
            raw=dict(data),
        )


# AMC's own words kept of an execution (redacted, then cut): they end up in messages and rows.
VALIDATION_ERROR_CHARS = 500
MAX_VALIDATION_ERRORS = 20


def _reason(value: object) -> str | None:
    text = _opt_str(value)
    return None if text is None else redact_and_cut(text, AMC_MESSAGE_CHARS)


def _opt_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


@dataclass(frozen=True, repr=False)
class AmcCredentials:
    """Login with Amazon credentials. ``repr`` shows only the client id."""

    client_id: str
    client_secret: str
    refresh_token: str

    def __post_init__(self) -> None:
        register_secret(self.client_secret)
        register_secret(self.refresh_token)

    def __repr__(self) -> str:
        return (
            f"AmcCredentials(client_id={self.client_id!r}, client_secret={REDACTED!r}, "
            f"refresh_token={REDACTED!r})"
        )

    __str__ = __repr__


AMC_SOURCES = ("live", "sandbox")


@dataclass(frozen=True)
class AmcClientConfig:
    """Where and how to talk to AMC. Build one with :meth:`for_region` or explicitly.

    ``advertiser_id`` and ``marketplace_id`` name the AMC account every instance-level call is
    made for. Both ``None``: a client for account-level calls only (``list_accounts``), e.g. to
    discover which accounts and instances some credentials can see.
    """

    api_base_url: str
    token_url: str
    credentials: AmcCredentials
    advertiser_id: str | None
    marketplace_id: str | None
    connect_timeout: float = 10
    read_timeout: float = 60
    retry_budget_seconds: float = 300
    max_retry_after_seconds: float = 60
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30
    token_refresh_margin_seconds: float = 60
    max_url_refreshes: int = 5
    user_agent: str = "amc_reports/0.1 (python-requests)"
    # Which AMC this is: "live" or "sandbox" (the local stand-in). Recorded, with `api_host`, on
    # every execution and week, so that a warehouse never mixes the two for one report.
    source: str = "live"

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_base_url", self.api_base_url.rstrip("/"))
        if self.source not in AMC_SOURCES:
            raise ValueError(
                f"AmcClientConfig.source must be one of {', '.join(AMC_SOURCES)}, got "
                f"{self.source!r}"
            )
        for name in ("api_base_url", "token_url"):
            value = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"AmcClientConfig.{name} must be an http(s) URL, got {value!r}")
        if self.advertiser_id is None and self.marketplace_id is None:
            return  # account-level calls only
        if not self.advertiser_id:
            raise ValueError("AmcClientConfig.advertiser_id (AMC account entity id) is required")
        if not self.marketplace_id:
            raise ValueError("AmcClientConfig.marketplace_id is required")

    @property
    def has_account(self) -> bool:
        return self.advertiser_id is not None

    @property
    def api_host(self) -> str:
        """The API's host (and port when given): never credentials, a path or a query."""
        parts = urlsplit(self.api_base_url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host

    @classmethod
    def for_region(
        cls,
        region: Region | str,
        credentials: AmcCredentials,
        advertiser_id: str | None,
        marketplace_id: str | None,
        **kw: Any,
    ) -> AmcClientConfig:
        key = str(region).upper()
        if key not in REGION_API_HOSTS:
            raise ValueError(f"unknown AMC region {region!r}; expected one of NA, EU, FE")
        return cls(
            api_base_url=kw.pop("api_base_url", REGION_API_HOSTS[key]),
            token_url=kw.pop("token_url", REGION_TOKEN_URLS[key]),
            credentials=credentials,
            advertiser_id=advertiser_id,
            marketplace_id=marketplace_id,
            **kw,
        )
