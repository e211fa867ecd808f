"""Error texts: Login with Amazon refusing the credentials is a credentials failure with advice
about the credentials (not a query error); however long LwA's or AMC's words, the error we print
and the week's stored message are cut (after redaction), and keep their advice."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from amc_reports.amc import AmcAuthError, AmcClient
from amc_reports.amc.redact import ERROR_TEXT_CHARS
from amc_reports.collection import ExecutionFailedError, SubmissionError
from amc_reports.collection.failures import classify_request_error
from amc_reports.collection.next_step import RETRIED
from amc_reports.local.sandbox import TOKEN_PATH
from amc_reports.warehouse import FailureKind, WeekKey
from amc_reports_tests.amc_tests.flaky_proxy import FlakyProxy
from amc_reports_tests.collection_tests.conftest import CollectionSetup

WEEK = date(2026, 3, 8)
DESCRIPTION = "The request has an invalid grant parameter : refresh_token. " * 35_000  # 2 MB
CUT_NOTE_CHARS = 40


def _refusal(body: bytes) -> tuple[int, str, bytes]:
    """LwA's answer to a revoked refresh token, with a 2 MB description ending in the token."""
    refresh = body.decode().split("refresh_token=")[1].split("&")[0]
    answer = {"error": "invalid_grant", "error_description": DESCRIPTION + refresh}
    return 400, "application/json", json.dumps(answer).encode()


def test_an_lwa_refusal_is_a_credentials_failure_cut_to_size(sandbox):
    with FlakyProxy(sandbox.base_url) as proxy:
        proxy.fail("POST", TOKEN_PATH, "answer", page=_refusal)
        config = replace(sandbox.client_config(), token_url=proxy.url + TOKEN_PATH)
        with AmcClient(config) as client, pytest.raises(AmcAuthError) as refused:
            client.list_accounts()
    error = refused.value
    shown = str(error)
    assert len(shown) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    assert len(repr(error)) <= 2 * (ERROR_TEXT_CHARS + CUT_NOTE_CHARS)
    assert "refresh token" in shown and "invalid_grant" in shown
    assert "more characters cut]" in shown
    classified = classify_request_error(error)
    assert classified.kind is FailureKind.CREDENTIALS and classified.kind not in RETRIED
    assert "invalid_grant" in classified.why


def test_a_week_whose_credentials_are_refused_fails_as_credentials_with_a_short_message(
    setup: CollectionSetup,
):
    with FlakyProxy(setup.sandbox.base_url) as proxy:
        proxy.fail("POST", TOKEN_PATH, "answer", page=_refusal)
        config = replace(setup.sandbox.client_config(), token_url=proxy.url + TOKEN_PATH)
        with AmcClient(config) as client:
            refused = replace(setup, client=client)
            with pytest.raises(SubmissionError) as failed:
                refused.collector().collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind is FailureKind.CREDENTIALS
    assert len(str(failed.value)) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    week = setup.warehouse.get_week_by_key(WeekKey(setup.report.name, "test", WEEK))
    assert week.status == "failed" and week.failure_kind is FailureKind.CREDENTIALS
    assert len(week.error_message) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    assert "Login with Amazon refused the credentials" in week.error_message
    assert "client secret and refresh token" in week.error_message
    assert "Atzr|" not in week.error_message.replace("Atzr|<redacted>", "")
    [execution] = setup.warehouse.list_executions(setup.report.name, WEEK)
    assert execution.failure_kind is FailureKind.CREDENTIALS
    assert setup.submissions() == []  # nothing reached AMC


def test_any_stored_error_text_is_cut(setup: CollectionSetup):
    """The one writer of weeks cuts whatever message it is given (here a 2 MB one)."""
    key = WeekKey(setup.report.name, "test", WEEK)
    setup.warehouse.life.claim(key, run_id="run-1")
    row = setup.warehouse.life.release(key, "boom " * 400_000, run_id="run-1")
    assert row is not None and len(row.error_message) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    assert row.error_message.endswith("more characters cut]")


def _failed_with_a_huge_reason(body: bytes) -> tuple[int, str, bytes]:
    """AMC's answer to a poll: the execution FAILED, with a 1 MB reason."""
    reason = "Column 'bogus' does not exist. " * 33_000
    answer = {"workflowExecutionId": "amc-x", "status": "FAILED", "failureReason": reason}
    return 200, "application/json", json.dumps(answer).encode()


def test_a_huge_amc_failure_reason_is_cut_and_the_advice_kept(setup: CollectionSetup):
    with FlakyProxy(setup.sandbox.base_url) as proxy:
        proxy.fail("GET", "/workflowExecutions/", "answer", page=_failed_with_a_huge_reason)
        config = replace(setup.sandbox.client_config(), api_base_url=proxy.url)
        with AmcClient(config) as client:
            polled = replace(setup, client=client)
            with pytest.raises(ExecutionFailedError) as failed:
                polled.collector().collect(WEEK, dagster_run_id="run-1")
    assert failed.value.kind is FailureKind.QUERY_ERROR
    assert len(str(failed.value)) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    week = setup.warehouse.get_week_by_key(WeekKey(setup.report.name, "test", WEEK))
    assert len(week.error_message) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
    assert "more characters cut]" in week.error_message
    assert "Fix the report's query" in week.error_message  # the advice after AMC's words
    execution = setup.warehouse.get_execution(week.execution_id)
    assert len(execution.failure_reason) <= ERROR_TEXT_CHARS + CUT_NOTE_CHARS
