"""Which AMC failures are worth another attempt (transient) and which never are (query errors)."""

import pytest

from amc_reports.amc import AmcApiError, AmcError, AmcRetryBudgetExceeded
from amc_reports.collection.failures import classify_reason, classify_request_error
from amc_reports.collection.next_step import RETRIED
from amc_reports.warehouse import FailureKind


@pytest.mark.parametrize(
    "reason",
    [
        "Query execution failed: internal error (sandbox fault injection)",
        "Internal Server Error",
        "Workflow execution timed out after 21600 seconds",
        "The service is temporarily unavailable, please try again",
        "Request throttled",
        "Unexpected error while running the query",
    ],
)
def test_failures_on_amcs_side_are_transient(reason):
    classified = classify_reason(reason)
    assert classified.kind is FailureKind.TRANSIENT and classified.kind in RETRIED
    assert "mentions" in classified.why


@pytest.mark.parametrize(
    "reason",
    [
        "Column 'bogus' does not exist",
        "Query exceeded resource limits",
        "Query exceeded the memory limit",
        "line 1:7 mismatched input 'FORM' expecting {<EOF>, ';'}",
        "Syntax error at or near SELEC",
        "cannot resolve 'campaign_nme' given input columns",
        "Table sponsored_ads_trafic not found",
        "Unknown column impressionz",
        # A query error wins over a word that sounds transient.
        "Internal error: column 'x' does not exist",
    ],
)
def test_query_errors_are_never_retried(reason):
    classified = classify_reason(reason)
    assert classified.kind is FailureKind.QUERY_ERROR and classified.kind not in RETRIED


def test_validation_errors_make_a_query_error_whatever_the_reason():
    assert classify_reason("internal error", ["line 3: unknown"]).kind is FailureKind.QUERY_ERROR


@pytest.mark.parametrize("reason", [None, "", "Something happened"])
def test_an_unrecognised_or_missing_reason_is_not_paid_again(reason):
    classified = classify_reason(reason)
    assert classified.kind is FailureKind.QUERY_ERROR
    assert "not retried" in classified.why


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (AmcApiError(503, "Service Unavailable"), FailureKind.TRANSIENT),
        (AmcApiError(429, "Too Many Requests"), FailureKind.TRANSIENT),
        (AmcApiError(400, "Invalid SQL: FORM"), FailureKind.QUERY_ERROR),
        (AmcApiError(403, "Forbidden"), FailureKind.REFUSED),
        (
            AmcRetryBudgetExceeded(
                method="POST", path="/x", attempts=9, elapsed_seconds=300, last_error="HTTP 500"
            ),
            FailureKind.TRANSIENT,
        ),
        (AmcError("the body was not JSON"), FailureKind.TRANSIENT),
    ],
)
def test_request_errors(error, kind):
    assert classify_request_error(error).kind is kind
