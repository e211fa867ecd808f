"""Retries: 429 honours Retry-After, 5xx and connection errors back off, 4xx fail at once."""

from __future__ import annotations

import socket

import pytest

from amc_reports.amc import AmcApiError, AmcClient, AmcRetryBudgetExceeded
from amc_reports.local.sandbox import sandbox_client_config
from amc_reports_tests.amc_tests.helpers import INSTANCE, SQL, TZ, create, week


def test_429_storm_obeys_retry_after(amc_client, sandbox):
    record = create(amc_client)
    sandbox.set_config({"throttle_next": 3, "retry_after_seconds": 1})
    assert amc_client.get_execution(INSTANCE, record.execution_id).execution_id

    polls = sandbox.requests(path_contains=record.execution_id, method="GET")
    assert [p["status"] for p in polls] == [429, 429, 429, 200]
    for before, after in zip(polls, polls[1:], strict=False):
        gap = after["t"] - before["t"]  # server-side arrival times
        assert gap >= 0.99, f"retried {gap:.3f}s after a 429 with Retry-After: 1"


def test_rate_limit_token_bucket_answers_429_with_retry_after(sandbox):
    import requests

    sandbox.set_config({"rate_limit_rps": 0.5, "rate_limit_burst": 2})
    client = sandbox.client()
    try:
        client.list_accounts()  # obtains a token, spends one bucket token
    finally:
        client.close()
    token_resp = sandbox.requests(path_contains="/auth/")
    assert token_resp
    # Raw calls, to see the 429 itself: the bucket (2 tokens, 0.5/s) is empty after a burst.
    statuses = []
    retry_after = None
    for _ in range(4):
        resp = requests.get(f"{sandbox.base_url}/amc/accounts", timeout=10)
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            retry_after = resp.headers["Retry-After"]
    assert 429 in statuses
    assert retry_after is not None and int(retry_after) >= 1


def test_retry_after_is_capped(sandbox):
    record_client = sandbox.client()
    record = create(record_client)
    record_client.close()
    sandbox.set_config({"throttle_next": 2, "retry_after_seconds": 120})
    client = sandbox.client(max_retry_after_seconds=0.2)
    waits: list[float] = []
    client._engine.sleep = waits.append  # record the waits instead of sleeping (HTTP stays real)
    try:
        client.get_execution(INSTANCE, record.execution_id)
    finally:
        client.close()
    assert waits == [0.2, 0.2]


def test_5xx_is_retried(amc_client, sandbox):
    record = create(amc_client)
    sandbox.set_config({"error_next": 2})
    assert amc_client.get_execution(INSTANCE, record.execution_id).execution_id
    polls = sandbox.requests(path_contains=record.execution_id)
    assert [p["status"] for p in polls] == [500, 500, 200]


def test_create_retried_on_429_and_5xx_creates_one_execution(amc_client, sandbox):
    sandbox.set_config({"throttle_next": 1, "error_next": 1, "retry_after_seconds": 1})
    record = create(amc_client)
    posts = sandbox.requests(path_contains="/workflowExecutions", method="POST")
    assert [p["status"] for p in posts] == [429, 500, 200]
    assert [e["execution_id"] for e in sandbox.executions()] == [record.execution_id]


def test_400_is_not_retried(amc_client, sandbox):
    start, end = week()
    with pytest.raises(AmcApiError) as err:
        amc_client.create_execution(
            INSTANCE,
            sql=SQL + ";",
            time_window_start=start,
            time_window_end=end,
            time_zone=TZ,
        )
    exc = err.value
    assert exc.status_code == 400
    assert "semicolon" in exc.message
    assert exc.method == "POST" and exc.path.endswith("/workflowExecutions")
    [seen] = sandbox.requests(path_contains="/workflowExecutions")
    assert exc.request_id == seen["request_id"]
    assert exc.request_id in str(exc)
    assert sandbox.executions() == []


def test_404_is_not_retried(amc_client, sandbox):
    with pytest.raises(AmcApiError) as err:
        amc_client.get_execution(INSTANCE, "no-such-execution")
    assert err.value.status_code == 404
    assert len(sandbox.requests(path_contains="no-such-execution")) == 1


def test_retry_budget_exceeded(sandbox):
    sandbox.set_config({"error_rate": 1.0})
    client = sandbox.client(retry_budget_seconds=1.0, backoff_base_seconds=0.05)
    try:
        with pytest.raises(AmcRetryBudgetExceeded) as err:
            client.list_accounts()
    finally:
        client.close()
    assert err.value.last_status == 500
    assert "HTTP 500" in str(err.value) and "/amc/accounts" in str(err.value)
    assert err.value.attempts >= 2


def test_connection_errors_are_retried_within_budget():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = sandbox_client_config(
        f"http://127.0.0.1:{port}", retry_budget_seconds=0.5, backoff_base_seconds=0.05
    )
    client = AmcClient(config)
    try:
        with pytest.raises(AmcRetryBudgetExceeded) as err:
            client.list_accounts()
    finally:
        client.close()
    assert "Connection" in str(err.value) and err.value.attempts >= 2
