"""Request validation of the sandbox, with AMC-like 400 messages.

Lenient where AMC is lenient (what Amazon's own sample client sends): window timestamps with a
trailing ``Z``, booleans and numbers as JSON strings, JSON bodies without ``Content-Type``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from amc_reports.amc_sql import custom_parameters, statement_error

RETENTION_MONTHS = 13
MAX_TIMEOUT_SECONDS = 86400
DEFAULT_TIMEOUT_SECONDS = 21600
_WINDOW_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(Z?)$")
WORKFLOW_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")
WINDOW_TYPES = (
    "EXPLICIT",
    "MOST_RECENT_DAY",
    "MOST_RECENT_WEEK",
    "CURRENT_MONTH",
    "PREVIOUS_MONTH",
)


class ApiError(Exception):
    """An error answer: HTTP status and AMC's ``details`` message."""

    def __init__(self, status: int, details: str, *, headers: dict[str, str] | None = None):
        super().__init__(details)
        self.status = status
        self.details = details
        self.headers = headers or {}


def bad_request(details: str) -> ApiError:
    return ApiError(400, details)


def parse_json_body(raw: bytes) -> Any:
    """JSON whatever the Content-Type (AMC accepts bodies sent without one)."""
    if not raw or not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from None


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise bad_request(f"Invalid value for {name}: expected a boolean, got {value!r}")


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"Invalid value for {name}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise bad_request(f"Invalid value for {name}: expected an integer, got {value!r}")


def parse_window_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise bad_request(f"{name} is required and must be a string like 2024-01-01T00:00:00")
    m = _WINDOW_RE.match(value.strip())
    if not m:
        raise bad_request(
            f"Invalid {name} '{value}': expected the format yyyy-MM-ddTHH:mm:ss (no milliseconds, "
            "no offset)"
        )
    try:
        return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise bad_request(f"Invalid {name} '{value}': not a valid date and time") from None


def zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise bad_request("timeWindowTimeZone must be an IANA time zone such as America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"Invalid timeWindowTimeZone '{name}'") from None


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = moment.year, moment.month - months
    while month <= 0:
        month += 12
        year -= 1
    day = min(moment.day, 28)
    return moment.replace(year=year, month=month, day=day)


def check_sql(sql: Any, *, what: str = "sqlQuery") -> str:
    if not isinstance(sql, str) or not sql.strip():
        raise bad_request(f"{what} must not be empty")
    error = statement_error(sql)  # a syntax error fails the execution, as in AMC
    if error is not None:
        raise bad_request(f"Invalid {what}: {error}")
    return sql


@dataclass(frozen=True)
class Window:
    window_type: str
    start: str  # normalised YYYY-MM-DDTHH:MM:SS
    end: str
    time_zone: str


def resolve_window(body: dict[str, Any], now_utc: datetime) -> Window:
    """The execution's time window, validated (format, order, retention, not in the future)."""
    window_type = str(body.get("timeWindowType") or "EXPLICIT").upper()
    if window_type not in WINDOW_TYPES:
        raise bad_request(
            f"Invalid timeWindowType '{window_type}'; expected one of {', '.join(WINDOW_TYPES)}"
        )
    tz_name = body.get("timeWindowTimeZone") or "America/New_York"
    tz = zone(tz_name)
    now_local = now_utc.astimezone(tz).replace(tzinfo=None)
    today = now_local.replace(hour=0, minute=0, second=0, microsecond=0)
    if window_type == "EXPLICIT":
        start = parse_window_time(body.get("timeWindowStart"), "timeWindowStart")
        end = parse_window_time(body.get("timeWindowEnd"), "timeWindowEnd")
    elif window_type == "MOST_RECENT_DAY":
        start, end = today - timedelta(days=1), today
    elif window_type == "MOST_RECENT_WEEK":
        start, end = today - timedelta(days=7), today
    elif window_type == "CURRENT_MONTH":
        start, end = today.replace(day=1), today
        if end <= start:
            raise bad_request("CURRENT_MONTH has no complete day yet; try again tomorrow")
    else:  # PREVIOUS_MONTH
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    if end <= start:
        raise bad_request(
            f"timeWindowEnd ({end:%Y-%m-%dT%H:%M:%S}) must be after timeWindowStart "
            f"({start:%Y-%m-%dT%H:%M:%S})"
        )
    if end > now_local:
        raise bad_request(
            f"timeWindowEnd ({end:%Y-%m-%dT%H:%M:%S} {tz_name}) cannot be in the future"
        )
    oldest = _months_before(now_local, RETENTION_MONTHS)
    if start < oldest:
        raise bad_request(
            f"timeWindowStart ({start:%Y-%m-%dT%H:%M:%S}) is outside the data retention period: "
            f"AMC keeps {RETENTION_MONTHS} months of data (oldest allowed start "
            f"{oldest:%Y-%m-%dT%H:%M:%S} {tz_name})"
        )
    return Window(window_type, f"{start:%Y-%m-%dT%H:%M:%S}", f"{end:%Y-%m-%dT%H:%M:%S}", tz_name)


def check_parameters(
    sql: str, values: Any, input_parameters: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """``parameterValues`` must cover every CUSTOM_PARAMETER without a workflow default."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise bad_request("parameterValues must be an object mapping parameter names to values")
    defaults = parameter_defaults(input_parameters)
    missing = [
        name for name in custom_parameters(sql) if name not in values and name not in defaults
    ]
    if missing:
        raise bad_request("Missing value for custom parameter(s): " + ", ".join(sorted(missing)))
    return dict(values)


THRESHOLD_OPTIONS = (
    "distinctUserCountColumn",
    "filteredMetricsDiscriminatorColumn",
    "filteredReasonColumn",
)


def threshold_options(workflow: dict[str, Any]) -> dict[str, str]:
    """A workflow's aggregation-threshold options (the extra result columns it asks for)."""
    out: dict[str, str] = {}
    for key in THRESHOLD_OPTIONS:
        value = workflow.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
            raise bad_request(f"{key} must be a column name (letters, digits, underscores)")
        out[key] = value
    return out


def parameter_defaults(input_parameters: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The default values of a workflow's input parameters."""
    return {
        str(p.get("name")): p.get("defaultValue")
        for p in (input_parameters or [])
        if isinstance(p, dict) and p.get("defaultValue") is not None
    }


def check_workflow_body(body: Any, *, workflow_id: str | None = None) -> dict[str, Any]:
    """A saved workflow definition (POST /workflows, PUT /workflows/{id})."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    wid = body.get("workflowId") or workflow_id
    if not isinstance(wid, str) or not WORKFLOW_ID_RE.match(wid):
        raise bad_request(
            "workflowId is required: 1-256 characters among letters, digits, '-', '_' and '.'"
        )
    if workflow_id is not None and body.get("workflowId") not in (None, workflow_id):
        raise bad_request("workflowId in the body does not match the one in the path")
    sql = check_sql(body.get("sqlQuery"))
    params = body.get("inputParameters") or []
    if not isinstance(params, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in params
    ):
        raise bad_request("inputParameters must be a list of objects with a name")
    doc: dict[str, Any] = {"workflowId": wid, "sqlQuery": sql, "inputParameters": params}
    doc.update(threshold_options(body))
    return doc
