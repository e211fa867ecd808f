"""What kind of failure AMC reported: worth another attempt (transient) or not (a query error).

Pure. AMC ends an execution FAILED with a free-text `failureReason` (and sometimes
`validationErrors`); a create it refuses is an HTTP error. The collection retries a transient
failure (AMC's internal errors, timeouts, outages) with backoff up to the report's
`max_attempts`, and never a query error (syntax, unknown tables or columns, resource limits): the
same query would fail again, and AMC would be paid again for nothing. A reason that matches
neither is treated as a query error: when in doubt, do not pay twice. A request Login with Amazon
refuses (the token refresh: invalid_grant, invalid_client) is a credentials failure, whatever its
HTTP status: nothing about the query, nothing a retry heals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from amc_reports.amc import AmcApiError, AmcAuthError, AmcError, AmcRetryBudgetExceeded
from amc_reports.warehouse import FailureKind

# About the query: it cannot succeed as written, however often it is sent.
_QUERY_ERROR = re.compile(
    r"syntax|pars(e|ing) error|mismatched input|extraneous input|no viable alternative"
    r"|unexpected token|cannot resolve|could not resolve|unresolved"
    r"|(column|table|field|function|parameter|alias)\b[^.;]*\b"
    r"(not found|does not exist|doesn't exist|unknown|undefined|not defined|ambiguous|invalid)"
    r"|(unknown|undefined|invalid|ambiguous|missing) (column|table|field|function|identifier"
    r"|parameter|alias)"
    r"|resource limit|exceeded (the )?(memory|resource|maximum|limit)|out of memory"
    r"|too many (rows|columns|partitions)|type mismatch|cannot (cast|be cast)|division by zero"
    r"|analysis ?exception|validation (error|failed)|not allowed|not supported|unsupported"
    r"|aggregation threshold|permission denied|access denied",
    re.IGNORECASE,
)
# On AMC's side: the same query may well succeed a little later.
_TRANSIENT = re.compile(
    r"internal (server )?error|internalerror|internal failure|service (is )?unavailable"
    r"|temporar(il)?y|timed? ?out|timeout|throttl|rate exceeded|try again|retry later"
    r"|capacity|unexpected error|transient|interrupted|node (lost|failure)|connection reset",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classified:
    """A failure's kind and why it was given that kind (for the log and the week's message)."""

    kind: FailureKind
    why: str


def classify_reason(reason: str | None, validation_errors: Sequence[str] = ()) -> Classified:
    """The kind of an execution AMC ended FAILED with this reason (and validation errors)."""
    if validation_errors:
        return Classified(FailureKind.QUERY_ERROR, "AMC reported validation errors")
    text = (reason or "").strip()
    query = _QUERY_ERROR.search(text)
    if query:
        return Classified(FailureKind.QUERY_ERROR, f"the reason mentions {query.group(0)!r}")
    transient = _TRANSIENT.search(text)
    if transient:
        return Classified(FailureKind.TRANSIENT, f"the reason mentions {transient.group(0)!r}")
    if not text:
        return Classified(
            FailureKind.QUERY_ERROR, "AMC gave no reason (treated as a query error: not retried)"
        )
    return Classified(
        FailureKind.QUERY_ERROR, "unrecognised reason (treated as a query error: not retried)"
    )


def classify_request_error(error: AmcError) -> Classified:
    """The kind of an error AMC answered a request (a create) with."""
    if isinstance(error, AmcAuthError):
        return Classified(
            FailureKind.CREDENTIALS,
            f"Login with Amazon refused the credentials (HTTP {error.status_code}"
            + (f", {error.code}" if error.code else "")
            + ")",
        )
    if isinstance(error, AmcRetryBudgetExceeded):
        return Classified(FailureKind.TRANSIENT, "AMC kept failing or throttling the request")
    if isinstance(error, AmcApiError):
        status = error.status_code
        if status >= 500 or status == 429:
            return Classified(FailureKind.TRANSIENT, f"HTTP {status}")
        if status in (400, 422):
            return Classified(FailureKind.QUERY_ERROR, f"AMC refused the request (HTTP {status})")
        return Classified(FailureKind.REFUSED, f"AMC refused the request (HTTP {status})")
    return Classified(FailureKind.TRANSIENT, "the request to AMC failed")


def classify_contact_error(error: AmcError) -> Classified:
    """The kind of an error that cut contact with AMC while an execution ran (polling it)."""
    if isinstance(error, AmcAuthError):
        return classify_request_error(error)
    return Classified(FailureKind.TRANSIENT, "contact with AMC was lost")
