"""The AMC client's one request engine: send, and on a transient failure wait and send again.

Every HTTP request the client makes (AMC API calls, the Login with Amazon token refresh, the GET of
a pre-signed result part) goes through :meth:`RequestEngine.send`. What is worth another attempt is
data, a :class:`RetryRule`: which statuses and exceptions, whether a request that may already have
reached the server may be sent again, and which statuses mean "refresh the credentials once and
resend at once" (401). How long to wait is :class:`Backoff`: ``Retry-After`` when the server says
(capped), else exponential backoff with full jitter. Every wait must end before the caller's
deadline, else :class:`AmcRetryBudgetExceeded`.

The engine returns the first response it does not retry (a success, or an error the caller maps to
its own exception); it raises only for what it decided itself. Nothing secret reaches its log
lines or exceptions: callers give it a ``label`` that is safe to show.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from amc_reports.amc.errors import AmcCreateOutcomeUnknownError, AmcError, AmcRetryBudgetExceeded
from amc_reports.amc.http import (
    describe_exception,
    error_message_of,
    is_connect_failure,
    parse_retry_after,
    request_id_of,
)

# The client's logger: it carries the redacting filter (see redact.install_log_redaction).
log = logging.getLogger("amc_reports.amc.client")

# Transport failures worth another attempt. Anything else from requests (a malformed URL, too
# many redirects) fails at once: sending it again cannot help.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class RetryRule:
    """Which failures get another attempt.

    ``retry_statuses`` and, with ``retry_server_errors``, every 5xx are retried after a wait;
    ``retry_exceptions`` likewise. With ``resend_after_sent=False`` a transport failure after the
    request may have left (anything but a failed connect) is final and raises
    :class:`AmcCreateOutcomeUnknownError` with ``unknown_outcome_advice``: for requests that
    must not be carried out twice. A status in ``reauthenticate_statuses`` calls the caller's
    ``reauthenticate`` once per call and resends at once, without waiting.
    """

    retry_statuses: frozenset[int] = frozenset({429})
    retry_server_errors: bool = True
    retry_exceptions: tuple[type[BaseException], ...] = TRANSIENT_ERRORS
    resend_after_sent: bool = True
    unknown_outcome_advice: str = ""
    reauthenticate_statuses: frozenset[int] = field(default_factory=frozenset)

    def retries_status(self, status: int) -> bool:
        return status in self.retry_statuses or (self.retry_server_errors and status >= 500)

    def retries_exception(self, exc: BaseException) -> bool:
        return isinstance(exc, self.retry_exceptions)

    def may_resend(self, exc: BaseException) -> bool:
        """A retryable transport failure may be sent again (always, or when it never left)."""
        return self.resend_after_sent or is_connect_failure(exc)


def exponential_delay(
    attempt: int, first_seconds: float, *, factor: float = 2.0, max_seconds: float
) -> float:
    """The project's one backoff: `first_seconds` after the first attempt, `factor` times longer
    after each one more, never above `max_seconds`."""
    return min(max_seconds, first_seconds * factor ** min(attempt - 1, 30))


@dataclass(frozen=True)
class Backoff:
    """How long to wait before attempt ``attempt + 1``."""

    base_seconds: float = 0.5
    max_seconds: float = 30
    max_retry_after_seconds: float = 60

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """``Retry-After`` capped at ``max_retry_after_seconds`` when given; else a uniform draw
        from ``[0, min(max_seconds, base_seconds * 2**(attempt-1))]`` (full jitter)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_seconds)
        return rng.uniform(
            0.0, exponential_delay(attempt, self.base_seconds, max_seconds=self.max_seconds)
        )


class RequestEngine:
    """Sends requests under a :class:`RetryRule`; one per client, shared by its threads.

    ``sleep`` and ``rng`` are attributes so that a test can record the waits instead of sleeping.
    """

    def __init__(
        self,
        backoff: Backoff,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng or random.Random()

    def send(
        self,
        send: Callable[[], requests.Response],
        *,
        rule: RetryRule,
        deadline: float,
        method: str,
        path: str,
        label: str | None = None,
        reauthenticate: Callable[[], None] | None = None,
    ) -> requests.Response:
        """Call ``send`` until it returns a response ``rule`` does not retry, and return that.

        ``deadline`` is a ``time.monotonic()`` instant no wait may pass. ``method`` and ``path``
        name the request in :class:`AmcRetryBudgetExceeded`; ``label`` (default ``"method
        path"``) names it in log lines and other errors. Raises :class:`AmcRetryBudgetExceeded`,
        :class:`AmcCreateOutcomeUnknownError` (``rule.resend_after_sent`` false) or
        :class:`AmcError` (a transport failure the rule does not retry).
        """
        label = label or f"{method} {path}"
        started = time.monotonic()
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            sent_at = time.monotonic()
            try:
                resp = send()
            except requests.exceptions.RequestException as exc:
                described = describe_exception(exc)
                if not rule.retries_exception(exc):
                    raise AmcError(f"{label} failed: {described}") from None
                if not rule.may_resend(exc):
                    raise AmcCreateOutcomeUnknownError(
                        f"{label}: the connection failed after the request was sent "
                        f"({described}). {rule.unknown_outcome_advice}".rstrip()
                    ) from None
                last_error, last_status = described, None
                delay = self.backoff.delay(attempt, self.rng)
                log.warning(
                    "%s: %s (attempt %d); retrying in %.2fs", label, last_error, attempt, delay
                )
            else:
                status = resp.status_code
                request_id = request_id_of(resp)
                log.debug(
                    "%s -> HTTP %d in %.0f ms (request id %s)",
                    label,
                    status,
                    (time.monotonic() - sent_at) * 1000,
                    request_id,
                )
                if (
                    status in rule.reauthenticate_statuses
                    and reauthenticate is not None
                    and not reauthenticated
                ):
                    reauthenticated = True
                    log.info("%s -> HTTP %d; refreshing the credentials once", label, status)
                    resp.close()
                    reauthenticate()
                    continue
                if not rule.retries_status(status):
                    return resp
                message, _ = error_message_of(resp)
                last_error, last_status = f"HTTP {status}: {message}", status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                delay = self.backoff.delay(attempt, self.rng, retry_after)
                resp.close()
                log.warning(
                    "%s -> HTTP %d (request id %s, attempt %d); retrying in %.2fs",
                    label,
                    status,
                    request_id,
                    attempt,
                    delay,
                )
            now = time.monotonic()
            if now + delay > deadline:
                raise AmcRetryBudgetExceeded(
                    method=method,
                    path=path,
                    attempts=attempt,
                    elapsed_seconds=now - started,
                    last_error=last_error,
                    last_status=last_status,
                )
            self.sleep(delay)
