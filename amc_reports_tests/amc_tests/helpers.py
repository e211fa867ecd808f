"""Helpers shared by the AMC tests."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date, datetime, timedelta

import requests

from amc_reports.amc import AmcClient, ExecutionRecord
from amc_reports.local.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
)

TZ = "America/New_York"
INSTANCE = "amctest01"
SQL = (
    "SELECT event_date, campaign_id, campaign_name, SUM(impressions) AS impressions, "
    "SUM(clicks) AS clicks, SUM(total_cost) AS total_cost, SUM(purchases) AS purchases "
    "FROM sponsored_ads_traffic "
    "WHERE event_date >= BUILT_IN_PARAMETER('TIME_WINDOW_START') "
    "GROUP BY 1, 2, 3"
)
COLUMNS = [
    "event_date",
    "campaign_id",
    "campaign_name",
    "impressions",
    "clicks",
    "total_cost",
    "purchases",
]

# Whatever a log line or message must never contain.
SECRET_PATTERNS = [
    re.compile(r"amc-sandbox-secret"),
    re.compile(r"Atzr\|(?!<redacted>)"),
    re.compile(r"Atza\|(?!<redacted>)"),
    re.compile(r"Atz[ar](?:%7[cC]|%257[cC])(?!<redacted>)"),  # the same, percent-encoded
    re.compile(r"X-Amz-Signature=(?!<redacted>)"),
    re.compile(r"X-Amz-Credential=(?!<redacted>)"),
    re.compile(r"(?i)bearer\s+(?!<redacted>)\S"),
]


def find_secrets(text: str) -> list[str]:
    found = []
    for pattern in SECRET_PATTERNS:
        for m in pattern.finditer(text):
            found.append(text[max(0, m.start() - 60) : m.end() + 20])
    return found


def week(weeks_ago: int = 2) -> tuple[str, str]:
    """A complete Sunday-to-Sunday week, ``weeks_ago`` weeks back (safely in the past)."""
    today = date.today()
    last_sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    start = last_sunday - timedelta(weeks=weeks_ago)
    end = start + timedelta(days=7)
    return f"{start}T00:00:00", f"{end}T00:00:00"


def create(client: AmcClient, instance: str = INSTANCE, sql: str = SQL, **kw) -> ExecutionRecord:
    start, end = kw.pop("window", week())
    return client.create_execution(
        instance,
        sql=sql,
        time_window_start=start,
        time_window_end=end,
        time_zone=kw.pop("time_zone", TZ),
        **kw,
    )


def wait_terminal(
    client: AmcClient, instance: str, execution_id: str, timeout: float = 60
) -> ExecutionRecord:
    """Poll until the execution is terminal (deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        record = client.get_execution(instance, execution_id)
        if record.is_terminal:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {execution_id} still {record.status} after {timeout}s")
        time.sleep(0.05)


def read_result(client: AmcClient, instance: str, execution_id: str) -> bytes:
    with client.open_result(instance, execution_id) as stream:
        return stream.read()


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def parse_day(text: str) -> date:
    return datetime.strptime(text, "%Y-%m-%d").date()


TOKEN_PATH = "/auth/o2/token"


def sandbox_token_response(base_url: str) -> requests.Response:
    """The sandbox's LwA answer to its own (public, fixed) refresh token."""
    return requests.post(
        base_url + TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "refresh_token": SANDBOX_REFRESH_TOKEN,
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
        },
        timeout=10,
    )
