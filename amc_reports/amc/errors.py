"""Errors raised by the AMC client. Messages never carry secrets or pre-signed query strings."""

from __future__ import annotations

from amc_reports.amc.redact import AMC_MESSAGE_CHARS, cap_error_text, redact_and_cut, redact_text


class AmcError(Exception):
    """Base class of every AMC client error (its message redacted, then cut to
    `ERROR_TEXT_CHARS`)."""

    def __init__(self, message: str) -> None:
        self.message = cap_error_text(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Picklable whatever the subclass's __init__ signature (errors cross process boundaries).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[AmcError], args: tuple, state: dict) -> AmcError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class AmcApiError(AmcError):
    """AMC (or LwA, or the download host) answered with an error that is not retried."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        code: str | None = None,
    ) -> None:
        self.status_code = int(status_code)
        self.request_id = request_id
        self.method = method
        self.path = redact_text(path.split("?", 1)[0]) if path else ""
        self.code = code
        self.amc_message = redact_and_cut(message, AMC_MESSAGE_CHARS)
        where = f"{method} {self.path} " if method or self.path else ""
        rid = f" (request id {request_id})" if request_id else ""
        super().__init__(f"AMC {where}failed with HTTP {status_code}: {self.amc_message}{rid}")
        self._full = self.message
        # `message` is AMC's own message; str() is the full line with method, path and request id.
        self.message = self.amc_message

    def __str__(self) -> str:
        return self._full

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r}, "
            f"request_id={self.request_id!r}, method={self.method!r}, path={self.path!r})"
        )


class AmcAuthError(AmcApiError):
    """Login with Amazon refused the credentials (bad client id/secret or refresh token)."""


class AmcMissingExecutionIdError(AmcError):
    """AMC accepted a create request but returned no ``workflowExecutionId`` and no ``Location``."""

    def __init__(
        self,
        *,
        instance_id: str,
        status_code: int,
        request_id: str | None,
        response_body: object = None,
    ) -> None:
        self.instance_id = instance_id
        self.status_code = status_code
        self.request_id = request_id
        self.response_body = response_body
        rid = f", request id {request_id}" if request_id else ""
        super().__init__(
            f"AMC accepted the execution request on instance {instance_id} "
            f"(HTTP {status_code}{rid}) but returned no execution id (no workflowExecutionId in "
            "the body and no Location header), so the execution cannot be tracked. It may still "
            "run on AMC; look for it with list_executions before submitting again."
        )


class AmcRetryBudgetExceeded(AmcError):
    """Transient failures (429, 5xx, connection errors) outlasted the client's retry budget."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        attempts: int,
        elapsed_seconds: float,
        last_error: str,
        last_status: int | None = None,
    ) -> None:
        self.method = method
        self.path = redact_text(path.split("?", 1)[0])
        self.attempts = attempts
        self.elapsed_seconds = elapsed_seconds
        self.last_status = last_status
        self.last_error = redact_text(last_error)
        super().__init__(
            f"AMC {method} {self.path} still failing after {attempts} attempt(s) over "
            f"{elapsed_seconds:.1f}s (retry budget exhausted); last error: {self.last_error}"
        )


class AmcCreateOutcomeUnknownError(AmcError):
    """The connection broke after a create request was sent: AMC may or may not have accepted it.

    Not retried automatically, because a blind retry could start (and pay for) a second execution.
    Look for the execution with ``list_executions`` before submitting again.
    """


class AmcDownloadError(AmcError):
    """A result could not be downloaded or is inconsistent (e.g. parts with different headers)."""
