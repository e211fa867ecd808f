"""The sandbox's Login with Amazon accepts several apps (one per credential profile), each with
its own client id, secret and refresh token, and ties each access token to its app."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from amc_reports.amc import AmcAuthError, AmcClient, AmcCredentials
from amc_reports.local.sandbox import sandbox_app, sandbox_client_config
from amc_reports.local.sandbox.constants import sandbox_app_of_client
from amc_reports_tests.fixtures_sandbox import TEST_CLIENT_SETTINGS


def _client(sandbox, app: str = "default", **credentials: str) -> AmcClient:
    config = sandbox_client_config(sandbox.base_url, app=app, **TEST_CLIENT_SETTINGS)
    current = config.credentials
    given = AmcCredentials(
        client_id=credentials.get("client_id", current.client_id),
        client_secret=credentials.get("client_secret", current.client_secret),
        refresh_token=credentials.get("refresh_token", current.refresh_token),
    )
    return AmcClient(replace(config, credentials=given))


def test_apps_are_named_after_profiles_and_found_by_client_id():
    app = sandbox_app("agency_b")
    assert app.client_id == "amc-sandbox-client-agency_b"
    assert sandbox_app_of_client(app.client_id) == app
    assert sandbox_app_of_client("amc-sandbox-client") == sandbox_app()
    for unknown in ("someone-else", "amc-sandbox-client-", "amc-sandbox-client-Bad", ""):
        assert sandbox_app_of_client(unknown) is None
    assert "secret" not in repr(app)


def test_each_app_gets_tokens_with_its_own_credentials(sandbox):
    with _client(sandbox) as default, _client(sandbox, "agency_b") as other:
        assert default.list_accounts() and other.list_accounts()
    token_requests = sandbox.requests(path_contains="/auth/o2/token")
    assert [r["status"] for r in token_requests] == [200, 200]


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ({"client_secret": "amc-sandbox-secret"}, 401),  # the default app's secret
        ({"client_secret": "wrong"}, 401),
        ({"refresh_token": "Atzr|sandbox"}, 400),  # the default app's refresh token
    ],
)
def test_an_app_refuses_another_apps_secrets(sandbox, credentials, status):
    with _client(sandbox, "agency_b", **credentials) as client, pytest.raises(AmcAuthError) as err:
        client.list_accounts()
    assert err.value.status_code == status


def test_a_token_works_only_with_its_own_client_id(sandbox):
    app = sandbox_app("agency_b")
    token = requests.post(
        sandbox.base_url + "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "refresh_token": app.refresh_token,
        },
        timeout=10,
    ).json()["access_token"]
    for client_id, status in ((app.client_id, 200), (sandbox_app().client_id, 401)):
        resp = requests.get(
            sandbox.base_url + "/amc/accounts",
            headers={
                "Authorization": f"Bearer {token}",
                "Amazon-Advertising-API-ClientId": client_id,
            },
            timeout=10,
        )
        assert resp.status_code == status
