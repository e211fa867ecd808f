"""HTTP helpers shared by the client and the download stream (no secrets in anything returned)."""

from __future__ import annotations

import email.utils
import json
import time
from datetime import UTC

import requests

from amc_reports.amc.redact import AMC_MESSAGE_CHARS, cut_redacted, redact_and_cut, redact_text

# How much of an error body that is neither JSON nor S3 XML (an HTML page, say) a message shows.
ERROR_SNIPPET_CHARS = 300
CODE_CHARS = 200  # an error code longer than this is not a code
REQUEST_ID_HEADERS = ("x-amzn-RequestId", "x-amzn-request-id", "x-amz-request-id", "x-amz-rid")


def request_id_of(resp: requests.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = resp.headers.get(name)
        if value:
            return value
    return None


def error_message_of(resp: requests.Response) -> tuple[str, str | None]:
    """AMC's (or LwA's, or S3's) human message and code from an error response: redacted whole,
    then cut (AMC_MESSAGE_CHARS; a body that is neither JSON nor S3 XML, ERROR_SNIPPET_CHARS)."""
    text = ""
    try:
        text = resp.text or ""
    except Exception:  # pragma: no cover - undecodable body
        text = ""
    code: str | None = None
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        code_value = body.get("code") or body.get("error")
        code = redact_and_cut(code_value, CODE_CHARS) if code_value is not None else None
        for key in ("details", "message", "Message", "error_description", "errorMessage"):
            value = body.get(key)
            if value:
                return redact_and_cut(value, AMC_MESSAGE_CHARS), code
        if code:
            return code, code
    if "<Message>" in text:  # S3-style XML error
        start = text.index("<Message>") + len("<Message>")
        end = text.find("</Message>", start)
        msg = text[start:end] if end > start else text[start:]
        if "<Code>" in text:
            c0 = text.index("<Code>") + len("<Code>")
            code = redact_and_cut(text[c0 : text.find("</Code>", c0)], CODE_CHARS)
        return redact_and_cut(msg.strip(), AMC_MESSAGE_CHARS), code
    # Redact the whole body first, then cut: a secret across the cut would otherwise keep its
    # first part.
    snippet = cut_redacted(" ".join(redact_text(text).split()), ERROR_SNIPPET_CHARS)
    return snippet or redact_text(resp.reason or "no message"), code


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (now if now is not None else time.time())
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def is_connect_failure(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (safe to retry a POST)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    markers = ("NewConnectionError", "Connection refused", "Name or service not known")
    return isinstance(exc, requests.exceptions.ConnectionError) and any(m in text for m in markers)


def describe_exception(exc: BaseException) -> str:
    """A short, secret-free description of a transport error (no URL, no query string)."""
    kind = type(exc).__name__
    text = str(exc)
    for marker in (
        "Connection refused",
        "timed out",
        "Read timed out",
        "Connection reset",
        "RemoteDisconnected",
        "IncompleteRead",
        "Connection aborted",
        "Name or service not known",
        "Connection broken",
    ):
        if marker in text:
            return f"{kind} ({marker})"
    return kind
