"""The client's one request engine: its rules as data, and each rule over real HTTP.

The sandbox cannot break a connection after a request has reached it, nor fail its token
endpoint; a proxy in front of it (``FlakyProxy``) does, while the sandbox stays the one that
acts on every request that gets through.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import requests

from amc_reports.amc import AmcClient, AmcCreateOutcomeUnknownError, AmcError
from amc_reports.amc.client import AMC_CREATE_RULE, AMC_RULE, DOWNLOAD_RULE
from amc_reports.amc.retry import Backoff, RetryRule
from amc_reports.local.sandbox import TOKEN_PATH
from amc_reports_tests.amc_tests.flaky_proxy import FlakyProxy
from amc_reports_tests.amc_tests.helpers import INSTANCE, create

REFUSED = requests.exceptions.ConnectionError(
    "HTTPConnectionPool: Max retries exceeded (NewConnectionError: [Errno 111] Connection refused)"
)
HUNG_UP = requests.exceptions.ConnectionError(
    "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
)


def test_retry_rules_are_data():
    for rule in (AMC_RULE, AMC_CREATE_RULE, DOWNLOAD_RULE):
        assert rule.retries_status(429) and rule.retries_status(500) and rule.retries_status(503)
        assert not any(rule.retries_status(s) for s in (200, 206, 400, 401, 403, 404, 416))
        assert rule.retries_exception(requests.exceptions.ReadTimeout())
        assert not rule.retries_exception(requests.exceptions.InvalidURL())
    assert AMC_RULE.reauthenticate_statuses == {401} and not DOWNLOAD_RULE.reauthenticate_statuses
    # Idempotent calls are resent whatever happened; a create only when it never left.
    assert AMC_RULE.may_resend(HUNG_UP) and AMC_RULE.may_resend(REFUSED)
    assert AMC_CREATE_RULE.may_resend(REFUSED)
    assert AMC_CREATE_RULE.may_resend(requests.exceptions.ConnectTimeout())
    assert not AMC_CREATE_RULE.may_resend(HUNG_UP)
    assert not AMC_CREATE_RULE.may_resend(requests.exceptions.ReadTimeout())
    assert RetryRule(retry_server_errors=False).retries_status(503) is False


def test_backoff_is_full_jitter_and_retry_after_is_capped():
    backoff = Backoff(base_seconds=0.5, max_seconds=4, max_retry_after_seconds=10)
    rng = random.Random(7)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (60, 4.0)]:
        draws = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8 and min(draws) < cap * 0.2  # spread over the whole range
    assert backoff.delay(1, rng, retry_after=3) == 3
    assert backoff.delay(9, rng, retry_after=120) == 10
    assert backoff.delay(1, rng, retry_after=0) == 0


def _client_through(proxy: FlakyProxy, sandbox, **settings) -> AmcClient:
    config = replace(
        sandbox.client_config(**settings),
        api_base_url=proxy.url,
        token_url=proxy.url + TOKEN_PATH,
    )
    return AmcClient(config)


def test_token_refresh_goes_through_the_engine(sandbox):
    with FlakyProxy(sandbox.base_url) as proxy:
        proxy.fail("POST", TOKEN_PATH, "answer", times=2)
        client = _client_through(proxy, sandbox)
        try:
            assert client.list_accounts()
        finally:
            client.close()
    token_calls = [what for method, path, what in proxy.seen if path == TOKEN_PATH]
    assert token_calls == ["answer", "answer", "forwarded"]
    assert len(sandbox.requests(path_contains=TOKEN_PATH)) == 1


def test_create_is_not_resent_once_it_may_have_reached_amc(sandbox):
    with FlakyProxy(sandbox.base_url) as proxy:
        proxy.fail("POST", "/workflowExecutions", "forward_then_hang_up")
        client = _client_through(proxy, sandbox)
        try:
            with pytest.raises(AmcCreateOutcomeUnknownError) as err:
                create(client)
        finally:
            client.close()
    message = str(err.value)
    assert "after the request was sent" in message and "list_executions" in message
    # AMC did create it, exactly once: a blind retry would have paid for a second one.
    assert len(sandbox.executions()) == 1
    assert len(sandbox.requests(path_contains="/workflowExecutions", method="POST")) == 1


def test_idempotent_call_is_resent_after_a_hang_up(amc_client, sandbox):
    record = create(amc_client)
    with FlakyProxy(sandbox.base_url) as proxy:
        proxy.fail("GET", record.execution_id, "forward_then_hang_up")
        client = _client_through(proxy, sandbox)
        try:
            assert client.get_execution(INSTANCE, record.execution_id).execution_id
        finally:
            client.close()
    polls = sandbox.requests(path_contains=record.execution_id, method="GET")
    assert [p["status"] for p in polls] == [200, 200]  # the first answer was lost on the way


def test_a_malformed_token_url_fails_at_once(sandbox):
    config = replace(sandbox.client_config(), token_url="http:///auth/o2/token")
    with AmcClient(config) as client, pytest.raises(AmcError) as err:
        client.list_accounts()
    assert type(err.value) is AmcError  # not AmcRetryBudgetExceeded: nothing was retried
    assert "LwA token refresh failed" in str(err.value) and "InvalidURL" in str(err.value)
