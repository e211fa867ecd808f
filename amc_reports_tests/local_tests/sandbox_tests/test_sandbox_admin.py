"""The sandbox's admin endpoints refuse cross-site requests and bound their values (over HTTP)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests

from amc_reports_tests.amc_tests.helpers import INSTANCE, create, wait_terminal
from amc_reports_tests.fixtures_sandbox import SandboxHandle


def _admin(sandbox: SandboxHandle, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", timeout=30, **kw)


def test_a_form_post_from_a_web_page_cannot_reset_the_sandbox(sandbox, amc_client):
    create(amc_client)
    for headers in ({"Content-Type": "text/plain"}, {}):  # what a cross-site form can send
        resp = _admin(sandbox, "POST", "reset", data="{}", headers=headers)
        assert resp.status_code == 415
        assert "Content-Type: application/json" in resp.json()["details"]
    assert len(sandbox.executions()) == 1  # nothing was wiped


def test_cross_site_origins_and_foreign_hosts_are_refused(sandbox):
    port = urlsplit(sandbox.base_url).port
    evil = {"latency_seconds": 999}
    cases = [
        ({"Origin": "http://evil.example"}, "cross-site request from Origin"),
        ({"Origin": "null"}, "cross-site request from Origin"),
        ({"Host": f"evil.example:{port}"}, "is not this sandbox"),  # DNS rebinding
    ]
    for headers, words in cases:
        resp = _admin(sandbox, "PUT", "config", json=evil, headers=headers)
        assert resp.status_code == 403, headers
        assert words in resp.json()["details"]
    rebound = _admin(sandbox, "GET", "executions", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 403  # nor can such a page read the sandbox's state
    assert sandbox.config()["overlay"] == {}
    same_origin = {"Origin": f"http://127.0.0.1:{port}"}
    ok = _admin(sandbox, "PATCH", "config", json={"latency_seconds": 0.3}, headers=same_origin)
    assert ok.status_code == 200, ok.text
    assert ok.json()["overlay"] == {"latency_seconds": 0.3}


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"rows": 10**9}, "rows must be an integer from 0 to 1000000"),
        ({"parts": 101}, "parts must be an integer from 1 to 100"),
        ({"instances": {"x": {"parts": 0}}}, "instances.x: parts must be an integer from 1 to 100"),
        ({"impressions_per_day": 10**8}, "impressions_per_day must be an integer from 0 to"),
        ({"latency_seconds": 10**9}, "latency_seconds must be a number from 0 to"),
        ({"response_delay_seconds": 3600}, "response_delay_seconds must be a number from 0 to 60"),
        ({"error_next": 10**7}, "error_next must be an integer from 0 to 1000000"),
        ({"failure_reason": "x" * 5000}, "failure_reason must be a string of 1 to 2000"),
    ],
)
def test_admin_values_are_bounded(sandbox, config, words):
    resp = _admin(sandbox, "PUT", "config", json=config)
    assert resp.status_code == 400
    assert words in resp.json()["details"]
    assert sandbox.config()["overlay"] == {}


def test_nan_is_not_a_number_of_seconds(sandbox):
    body = json.dumps({"latency_seconds": float("nan")})  # Python's json writes NaN
    resp = _admin(sandbox, "PUT", "config", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "latency_seconds must be a number" in resp.json()["details"]


def test_patching_a_switch_does_not_rearm_spent_one_shot_faults(sandbox, amc_client):
    sandbox.set_config({"fail_next": 2, "instances": {INSTANCE: {"reject_next": 1}}})
    first = wait_terminal(amc_client, INSTANCE, create(amc_client).execution_id)
    assert first.status == "REJECTED"  # the instance's own counter comes first
    second = wait_terminal(amc_client, INSTANCE, create(amc_client).execution_id)
    assert second.status == "FAILED"
    remaining = sandbox.config()["counters_remaining"]
    assert remaining == {"*": {"fail_next": 1}, INSTANCE: {"reject_next": 0}}

    sandbox.patch_config({"latency_seconds": 0.2, "instances": {INSTANCE: {"error_rate": 0}}})
    assert sandbox.config()["counters_remaining"] == remaining  # nothing re-armed

    statuses = [
        wait_terminal(amc_client, INSTANCE, create(amc_client).execution_id).status
        for _ in range(2)
    ]
    assert statuses == ["FAILED", "SUCCEEDED"]

    sandbox.patch_config({"fail_next": 3})  # naming a counter arms it again
    assert sandbox.config()["counters_remaining"]["*"] == {"fail_next": 3}
