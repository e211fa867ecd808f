"""Secrets never show in reprs, exception messages or logs."""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import replace
from urllib.parse import parse_qs, quote, quote_plus

import pytest
import requests

from amc_reports.amc import (
    AmcApiError,
    AmcAuthError,
    AmcClient,
    AmcClientConfig,
    AmcCredentials,
    AmcRetryBudgetExceeded,
)
from amc_reports.amc.http import ERROR_SNIPPET_CHARS, error_message_of
from amc_reports.amc.redact import (
    AMC_MESSAGE_CHARS,
    base64_forms,
    redact_mapping,
    redact_text,
    redact_url,
    register_secret,
)
from amc_reports.local.sandbox import SANDBOX_CLIENT_SECRET, TOKEN_PATH
from amc_reports_tests.amc_tests.flaky_proxy import FlakyProxy
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


# A registered secret with characters that change when encoded (/, +, a space, a quote).
ODD_SECRET = 'Zq9-cl13nt/s3cr3t+x y"z'


def test_encoded_forms_of_registered_secrets_are_redacted():
    register_secret(ODD_SECRET)
    once = quote(ODD_SECRET, safe="")
    forms = {
        "raw": ODD_SECRET,
        "percent-encoded": once,
        "percent-encoded, / kept": quote(ODD_SECRET),
        "form-encoded": quote_plus(ODD_SECRET),
        "encoded twice": quote(once, safe=""),
        "lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), once),
        "JSON-escaped": json.dumps(ODD_SECRET)[1:-1],
    }
    for name, form in forms.items():
        out = redact_text(f"GET /x?q={form}&next=1 and again: {form}.")
        assert form not in out and "Zq9" not in out, name
        assert out.count("<redacted>") == 2, (name, out)


@pytest.mark.parametrize(
    "text",
    [
        "Atzr%7CIwEBIrefresh-part",
        "Atza%7cIwEBIaccess-part",
        "grant_type=refresh_token&refresh%5Ftoken=Atzr%257CIwEBItwice-encoded",
        "Authorization: Bearer%20Atza%7CIwEBIheader-part",
        "body=client_secret%3Dform-in-a-query%26client_id%3Dx",
    ],
)
def test_encoded_lwa_tokens_are_redacted(text: str):
    out = redact_text(text)
    assert find_secrets(out) == []
    secret = re.search(r"(IwEBI[\w-]+|form-in-a-query)", text).group(1)
    assert secret not in out


def _error_response(body: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code = 502
    resp.reason = "Bad Gateway"
    resp.encoding = "utf-8"
    resp._content = body.encode("utf-8")
    return resp


def test_a_secret_across_the_cut_is_redacted_whole():
    register_secret(ODD_SECRET)
    # Each secret, what of it must never show, and what it keeps (a token its Atzr| prefix).
    cases = ((ODD_SECRET, "Zq9", ""), ("Atzr|IwEBIcut-across-the-limit", "IwE", "Atzr|"))
    for secret, telltale, kept in cases:
        for start in range(ERROR_SNIPPET_CHARS - len(secret), ERROR_SNIPPET_CHARS + 1):
            body = "<html>" + "." * (start - len("<html>")) + secret + " and more</html>"
            message, _ = error_message_of(_error_response(body))
            assert telltale not in message, (start, message[-40:])
            kept_text = message.split(" [... ")[0]  # what was kept, before the cut's note
            assert len(kept_text) <= ERROR_SNIPPET_CHARS + len("<redacted>")
            assert message.endswith("more characters cut]")
            if start + len(kept) < ERROR_SNIPPET_CHARS:  # the marker shows, never cut in half
                assert "<redacted>" in message, (start, message[-40:])
            half_markers = tuple("<redacted>"[:n] for n in range(2, len("<redacted>")))
            assert not kept_text.endswith(half_markers), kept_text[-12:]


def test_a_secret_far_past_the_cut_is_redacted_once_earlier_tokens_shrink():
    """The body is redacted whole before it is cut: 17 long tokens shrink to markers, which
    brings a secret that sat 8 KiB past the cut into the message, redacted."""
    register_secret(ODD_SECRET)
    tokens = "".join(f"Atza|{'y' * 492} " for _ in range(17))
    body = "<html>" + tokens + "." * 10 + ODD_SECRET + " and more</html>"
    assert body.index(ODD_SECRET) > ERROR_SNIPPET_CHARS + 8000
    message, _ = error_message_of(_error_response(body))
    assert "Zq9" not in message and "yyyy" not in message
    assert "..........<redacted>" in message


def test_json_error_bodies_are_cut_after_redaction():
    description = "The refresh token is invalid. " * 70_000  # 2.1 MB
    body = json.dumps(
        {"error": "invalid_grant", "error_description": description + "Atzr|IwEBItail-token"}
    )
    message, code = error_message_of(_error_response(body))
    assert code == "invalid_grant"
    assert len(message) <= AMC_MESSAGE_CHARS + 40
    assert message.startswith("The refresh token is invalid.")
    assert re.search(r"\[\.\.\. \d+ more characters cut\]$", message)


@pytest.mark.parametrize(
    "form",
    [
        "header",
        "json header",
        "base64 of the secret",
        "base64 url-safe, inside a blob",
        "upper case",
        "lower case",
    ],
)
def test_base64_and_case_variants_of_secrets_are_redacted(form: str):
    secret = "Kx7-client-SECRET/value+42"
    register_secret(secret)
    credential = base64.b64encode(f"amzn1.application-oa2-client.abc:{secret}".encode()).decode()
    texts = {
        "header": f"Authorization: Basic {credential}",
        "json header": json.dumps({"headers": {"Authorization": f"Basic {credential}"}}),
        "base64 of the secret": f"echo {base64.b64encode(secret.encode()).decode()}",
        "base64 url-safe, inside a blob": "blob "
        + base64.urlsafe_b64encode(b"prefix-" + secret.encode() + b"-suffix").decode(),
        "upper case": f"secret={secret.upper()}; token ATZR|IWEBIUPPER-CASED",
        "lower case": f"the value {secret.lower()} and atza|iwebilower-cased",
    }
    out = redact_text(texts[form])
    assert "<redacted>" in out, out
    for leaked in (secret, secret.upper(), secret.lower(), "IWEBI", "iwebi"):
        assert leaked not in out, (form, out)
    core = sorted(base64_forms(secret), key=len)[-1]
    assert core.lower() not in out.lower(), (form, out)


def test_basic_in_prose_is_left_alone():
    text = "basic authentication is not used; Basic realm=amc"
    assert redact_text(text) == text


def test_a_gateway_echoing_the_token_request_leaks_nothing(sandbox, caplog):
    """A proxy in front of LwA answers 400 with an HTML page that echoes the form it received:
    the form-encoded refresh token, and the client secret across the message's length limit."""
    caplog.set_level(logging.DEBUG)

    def echo(body: bytes) -> tuple[int, str, bytes]:
        form = parse_qs(body.decode())
        raw_refresh = re.search(r"refresh_token=([^&]*)", body.decode()).group(1)
        head = f"<html><body><h1>400 Bad Request</h1><p>token {raw_refresh} refused</p><p>"
        secret = form["client_secret"][0]
        pad = "x" * (ERROR_SNIPPET_CHARS - 14 - len(head))  # 14 characters before the cut
        page = f"{head}{pad}{secret} for {form['client_id'][0]}</p></body></html>"
        return 400, "text/html", page.encode()

    with FlakyProxy(sandbox.base_url) as proxy:
        proxy.fail("POST", TOKEN_PATH, "answer", page=echo)
        config = replace(sandbox.client_config(), token_url=proxy.url + TOKEN_PATH)
        with AmcClient(config) as client, pytest.raises(AmcAuthError) as err:
            client.list_accounts()
    shown = "\n".join([str(err.value), repr(err.value), caplog.text])
    assert "token <redacted> refused" in str(err.value)  # Atzr%7C..., the form-encoded token
    assert SANDBOX_CLIENT_SECRET[:14] not in shown  # not even the part before the cut
    assert find_secrets(shown) == []


def test_a_token_pasted_as_an_execution_id_is_redacted_in_the_path(amc_client, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AmcApiError) as err:
        amc_client.get_execution(INSTANCE, "Atzr|IwEBIpasted-by-mistake")
    assert err.value.status_code == 404
    assert "workflowExecutions/Atzr%7C<redacted>" in str(err.value)
    shown = "\n".join([str(err.value), repr(err.value), caplog.text])
    assert "IwEBIpasted" not in shown and find_secrets(shown) == []
