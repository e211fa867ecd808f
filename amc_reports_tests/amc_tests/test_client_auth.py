"""LwA tokens and AMC headers: expiry, proactive refresh, refresh-once on 401, bad credentials."""

from __future__ import annotations

import time

import pytest
import requests

from amc_reports.amc import AmcAuthError, AmcClient, AmcCredentials
from amc_reports.local.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
    sandbox_client_config,
)
from amc_reports_tests.amc_tests.helpers import (
    INSTANCE,
    TOKEN_PATH,
    create,
    sandbox_token_response,
)


def _token(base_url: str) -> str:
    resp = sandbox_token_response(base_url)
    assert resp.status_code == 200
    body = resp.json()
    assert body["access_token"].startswith("Atza|")
    assert body["token_type"] == "bearer"
    return body["access_token"]


def _headers(token: str | None, **drop: bool) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Amazon-Advertising-API-ClientId": SANDBOX_CLIENT_ID,
        "Amazon-Advertising-API-AdvertiserId": "ENTITYSANDBOX",
        "Amazon-Advertising-API-MarketplaceId": "ATVPDKIKX0DER",
    }
    for name in drop:
        headers.pop(name.replace("_", "-"), None)
    return headers


def test_token_is_cached(amc_client, sandbox):
    record = create(amc_client)
    for _ in range(5):
        amc_client.get_execution(INSTANCE, record.execution_id)
    assert len(sandbox.requests(path_contains=TOKEN_PATH)) == 1


def test_token_refreshed_before_it_expires(sandbox):
    sandbox.set_config({"token_expires_in": 4})
    client = sandbox.client()
    try:
        record = create(client)
        deadline = time.monotonic() + 60
        while len(sandbox.requests(path_contains=TOKEN_PATH)) < 3:
            client.get_execution(INSTANCE, record.execution_id)  # every call must succeed
            assert time.monotonic() < deadline, "the client never refreshed its token"
            time.sleep(0.1)
    finally:
        client.close()
    amc = sandbox.requests(path_contains="/amc/")
    unauthorized = [r for r in amc if r["status"] == 401]
    # Refreshes happen ahead of expiry: at most a rare 401 from a request slowed in transit.
    assert len(unauthorized) < 2


def test_401_refreshes_the_token_once_and_retries(amc_client, sandbox):
    record = create(amc_client)
    sandbox.revoke_tokens()
    assert amc_client.get_execution(INSTANCE, record.execution_id).execution_id
    log = sandbox.requests()
    statuses = [(r["method"], r["path"].split("/")[-1], r["status"]) for r in log[-3:]]
    assert statuses == [
        ("GET", record.execution_id, 401),
        ("POST", "token", 200),
        ("GET", record.execution_id, 200),
    ]


def test_expired_token_is_refused_by_the_sandbox(sandbox):
    sandbox.set_config({"token_expires_in": 1})
    token = _token(sandbox.base_url)
    url = f"{sandbox.base_url}/amc/reporting/{INSTANCE}/workflowExecutions"
    deadline = time.monotonic() + 30
    while True:
        resp = requests.get(url, headers=_headers(token), timeout=10)
        if resp.status_code == 401:
            break
        assert resp.status_code == 200
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "expired" in resp.json()["details"]


def test_sandbox_checks_the_four_headers(sandbox):
    token = _token(sandbox.base_url)
    url = f"{sandbox.base_url}/amc/reporting/{INSTANCE}/workflowExecutions"
    assert requests.get(url, headers=_headers(token), timeout=10).status_code == 200

    resp = requests.get(url, headers=_headers(token, Authorization=True), timeout=10)
    assert resp.status_code == 401
    resp = requests.get(url, headers=_headers("Atza|forged"), timeout=10)
    assert resp.status_code == 401
    for header in (
        "Amazon-Advertising-API-ClientId",
        "Amazon-Advertising-API-AdvertiserId",
        "Amazon-Advertising-API-MarketplaceId",
    ):
        resp = requests.get(url, headers=_headers(token, **{header: True}), timeout=10)
        assert resp.status_code == 400, header
        body = resp.json()
        assert body["code"] == "400" and header in body["details"]
        assert resp.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    ("field", "value", "status", "error"),
    [
        ("client_secret", "wrong", 401, "invalid_client"),
        ("client_id", "someone-else", 401, "invalid_client"),
        ("refresh_token", "Atzr|wrong", 400, "invalid_grant"),
        ("grant_type", "authorization_code", 400, "unsupported_grant_type"),
    ],
)
def test_lwa_refuses_bad_credentials(sandbox, field, value, status, error):
    form = {
        "grant_type": "refresh_token",
        "refresh_token": SANDBOX_REFRESH_TOKEN,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        field: value,
    }
    resp = requests.post(sandbox.base_url + TOKEN_PATH, data=form, timeout=10)
    assert resp.status_code == status
    assert resp.json()["error"] == error


def test_client_with_bad_secret_fails_at_once(sandbox):
    config = sandbox_client_config(sandbox.base_url)
    bad = AmcCredentials(SANDBOX_CLIENT_ID, "not-the-secret", SANDBOX_REFRESH_TOKEN)
    from dataclasses import replace

    client = AmcClient(replace(config, credentials=bad))
    try:
        with pytest.raises(AmcAuthError) as err:
            client.list_accounts()
    finally:
        client.close()
    assert err.value.status_code == 401
    assert "Client authentication failed" in str(err.value)
    assert "not-the-secret" not in str(err.value) and "not-the-secret" not in repr(err.value)
    assert len(sandbox.requests(path_contains=TOKEN_PATH)) == 1  # not retried
