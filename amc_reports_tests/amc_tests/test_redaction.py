"""Secrets never show in reprs, exception messages or logs."""

from __future__ import annotations

import logging

from amc_reports.amc import (
    AmcApiError,
    AmcClient,
    AmcClientConfig,
    AmcCredentials,
    AmcRetryBudgetExceeded,
)
from amc_reports.amc.redact import redact_headers, redact_mapping, redact_text, redact_url
from amc_reports_tests.amc_tests.helpers import INSTANCE, create, find_secrets, wait_terminal

SIGNED = (
    "https://bucket.s3.amazonaws.com/out/part-00000.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z"
    "&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef0123"
)


def test_redact_helpers():
    assert redact_url(SIGNED) == "https://bucket.s3.amazonaws.com/out/part-00000.csv?<redacted>"
    assert redact_url("https://host/path?limit=10") == "https://host/path?limit=10"
    text = (
        f"GET {SIGNED} Authorization: Bearer Atza|IwEBIabc.def-ghi "
        "grant_type=refresh_token&refresh_token=Atzr|IwEBxyz&client_secret=s3cr3t "
        '{"access_token": "Atza|zzz", "refresh_token": "Atzr|yyy"}'
    )
    out = redact_text(text)
    assert find_secrets(out) == []
    assert "s3cr3t" not in out and "deadbeef" not in out
    assert redact_text("my secret is hunter22", extra_secrets=["hunter22"]).endswith("<redacted>")
    assert redact_headers({"Authorization": "Bearer x", "Accept": "a"}) == {
        "Authorization": "<redacted>",
        "Accept": "a",
    }
    assert redact_mapping({"downloadUrls": [SIGNED], "client_secret": "x"}) == {
        "downloadUrls": ["https://bucket.s3.amazonaws.com/out/part-00000.csv?<redacted>"],
        "client_secret": "<redacted>",
    }


def test_reprs_hide_secrets():
    creds = AmcCredentials("amzn1.client", "very-secret-value", "Atzr|refresh-value")
    config = AmcClientConfig.for_region("EU", creds, "ENTITYX", "A1PA6795UKMFR9")
    assert config.api_base_url == "https://advertising-api-eu.amazon.com"
    assert config.token_url == "https://api.amazon.co.uk/auth/o2/token"
    client = AmcClient(config)
    try:
        for text in (repr(creds), str(creds), repr(config), repr(client)):
            assert "very-secret-value" not in text and "refresh-value" not in text
        assert "amzn1.client" in repr(creds)
    finally:
        client.close()


def test_exception_messages_hide_secrets():
    err = AmcApiError(
        403, f"denied for {SIGNED} with Atza|tok", request_id="r-1", method="GET", path=SIGNED
    )
    assert find_secrets(str(err)) == [] and find_secrets(repr(err)) == []
    assert "deadbeef" not in str(err)
    budget = AmcRetryBudgetExceeded(
        method="GET", path=SIGNED, attempts=3, elapsed_seconds=1.0, last_error=f"x {SIGNED}"
    )
    assert "deadbeef" not in str(budget)


def test_a_full_session_logs_no_secret(amc_client, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.set_config({"expired_urls_next": 1, "throttle_next": 1, "parts": 2})
    record = create(amc_client)
    wait_terminal(amc_client, INSTANCE, record.execution_id)
    urls = amc_client.get_download_urls(INSTANCE, record.execution_id)
    with amc_client.open_result(INSTANCE, record.execution_id) as stream:
        stream.read()
    sandbox.revoke_tokens()
    amc_client.get_execution(INSTANCE, record.execution_id)
    signatures = [u.rsplit("X-Amz-Signature=", 1)[1] for u in urls]
    text = caplog.text + sandbox.log_file.read_text()
    assert "download GET" in caplog.text  # the download was logged, just not its query
    for signature in signatures:
        assert signature not in text
    assert find_secrets(text) == []
