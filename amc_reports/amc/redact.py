"""Redaction of secrets in anything that may reach a log, an exception message or a repr.

Secrets covered: LwA client secret, refresh tokens (``Atzr|...``), access tokens (``Atza|...``),
``Authorization`` header values, and the query string of pre-signed download URLs (which carries the
signature and the credential scope). Redaction works two ways: by pattern (token prefixes,
``key=value`` pairs, pre-signed URL queries) and by exact value (secrets registered with
:func:`register_secret`, e.g. a client secret that has no recognisable shape). Both also catch
the forms a secret takes on its way through HTTP: percent-encoded (``Atzr%7C...``, once or twice),
form-encoded (``+`` for a space), JSON-escaped and base64 (alone, or inside a longer base64
text such as a ``Basic`` credential), in any letter case.

Texts are redacted whole, *then* cut (:func:`redact_and_cut`): a cut made first could keep the
start of a secret it splits. Every error text we store or print is cut to
:data:`ERROR_TEXT_CHARS` (:func:`cap_error_text`), whatever its source (JSON error bodies too).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

REDACTED = "<redacted>"
# The most of any error text we store (a week's error_message, an execution's failure_reason)
# or print; AMC's own message inside an error is cut to AMC_MESSAGE_CHARS.
ERROR_TEXT_CHARS = 4000
AMC_MESSAGE_CHARS = 2000

# Query parameters that make a URL pre-signed (AWS SigV4 and SigV2 styles).
_PRESIGNED_MARKERS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature=")

_SECRET_KEYS = (
    "client_secret",
    "refresh_token",
    "access_token",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "Signature",
    "AWSAccessKeyId",
)
_KEY_ALT = "|".join(re.escape(k) for k in _SECRET_KEYS)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # The whole query string of any URL that looks pre-signed.
    (
        re.compile(r"(?i)(https?://[^\s\"'<>?]+)\?(?=[^\s\"'<>]*x-amz-)[^\s\"'<>]*"),
        r"\1?" + REDACTED,
    ),
    (
        re.compile(r"(?i)(/[^\s\"'<>?]*)\?(?=[^\s\"'<>]*x-amz-)[^\s\"'<>]*"),
        r"\1?" + REDACTED,
    ),
    # LwA tokens: Atza| (access) and Atzr| (refresh), also percent-encoded (Atzr%7C, Atzr%257C)
    # or upper-cased, whatever follows up to a delimiter.
    (
        re.compile(r"(?i)(Atz[ar](?:\||%7c|%257c))(?!<redacted>)[^\s\"'&,;)}\]<>]+"),
        r"\1" + REDACTED,
    ),
    # Authorization: Bearer xyz / "Authorization": "Bearer xyz" / Bearer%20xyz / Bearer+xyz
    (re.compile(r"(?i)(bearer(?:\s+|%20|\+))(?!<redacted>)[^\s\"',;&]+"), r"\1" + REDACTED),
    # Authorization: Basic <base64 of id:secret> (not prose: the value has a digit, a capital
    # letter or base64 punctuation).
    (
        re.compile(
            r"((?i:basic)(?:\s+|%20|\+))"
            r"(?=(?:[A-Za-z0-9+/_=-]|<redacted>)*(?:[A-Z0-9+/=]|<redacted>))"
            r"(?:[A-Za-z0-9+/_-]|<redacted>){8,}={0,2}(?:%3D){0,2}"
        ),
        r"\1" + REDACTED,
    ),
    # key=value in query strings and form bodies (key%3Dvalue once more encoded)
    (
        re.compile(r"(?i)\b(" + _KEY_ALT + r")(=|%3D)(?!<redacted>)[^&\s\"'<>]*"),
        r"\1\2" + REDACTED,
    ),
    # "key": "value" in JSON, key: value in reprs
    (
        re.compile(r"(?i)([\"']?(?:" + _KEY_ALT + r")[\"']?\s*[:=]\s*[\"'])(?!<redacted>)[^\"']*"),
        r"\1" + REDACTED,
    ),
]

_registered_lock = threading.Lock()
_registered: dict[str, None] = {}  # insertion-ordered set, bounded
_MAX_REGISTERED = 256
_registered_pattern: _Exact | None = None  # every form of every registered secret


def register_secret(value: str | None) -> None:
    """Remember an exact secret value so :func:`redact_text` removes it wherever it appears, in
    any of the forms of :func:`encoded_forms`.

    The most recent 256 values are kept (credentials, and access tokens as they are refreshed).
    """
    global _registered_pattern
    if value and len(value) >= 4:
        with _registered_lock:
            known = value in _registered
            _registered.pop(value, None)
            _registered[value] = None  # the most recently registered is evicted last
            if known:
                return
            while len(_registered) > _MAX_REGISTERED:
                del _registered[next(iter(_registered))]
            _registered_pattern = None


def encoded_forms(secret: str) -> set[str]:
    """``secret`` as it may show up after travelling through HTTP: as is, percent-encoded (as a
    URL path or query value, once or twice, upper- or lower-case hex), form-encoded,
    JSON-escaped, and base64 (:func:`base64_forms`). Matched in any letter case."""
    once = quote(secret, safe="")
    forms = {secret, once, quote(secret), quote_plus(secret), quote(once, safe="")}
    forms.add(json.dumps(secret)[1:-1])
    forms |= base64_forms(secret)
    return {f for f in forms if len(f) >= 4}


def base64_forms(secret: str) -> set[str]:
    """What base64 (standard or URL-safe alphabet) makes of ``secret`` wherever it sits in the
    encoded bytes: for each of the three alignments, the characters that only its bytes decide
    (e.g. inside ``Basic base64(client_id:client_secret)``). Parts shorter than 8 are left out."""
    data = secret.encode("utf-8")
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii").rstrip("=")
        total_bits = 8 * (offset + len(data))
        core = encoded[-(-8 * offset // 6) : total_bits // 6]
        if len(core) >= 8:
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


class _Exact:
    """Every form of some secrets: which of them a text holds (a fast search for each, in
    lower case), then one case-insensitive pattern of just those."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = {form for secret in secrets for form in encoded_forms(secret)}
        self._forms = {form.lower(): form for form in forms}
        self._patterns: dict[frozenset[str], re.Pattern[str]] = {}

    def sub(self, text: str) -> str:
        lowered = text.lower()
        present = frozenset(f for f in self._forms if f in lowered)
        if not present:
            return text
        pattern = self._patterns.get(present)
        if pattern is None:
            # Longest first, so a secret that contains another one is removed whole.
            ordered = sorted(present, key=len, reverse=True)
            pattern = re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)
            if len(self._patterns) < 64:
                self._patterns[present] = pattern
        return pattern.sub(REDACTED, text)


def _registered_secrets() -> _Exact | None:
    global _registered_pattern
    with _registered_lock:
        if _registered_pattern is None and _registered:
            _registered_pattern = _Exact(_registered)
        return _registered_pattern


def redact_text(text: object, extra_secrets: Iterable[str | None] = ()) -> str:
    """Return ``str(text)`` with every known secret replaced by ``<redacted>``."""
    s = text if isinstance(text, str) else str(text)
    extra = [v for v in extra_secrets if v]
    for exact in (_registered_secrets(), _Exact(extra) if extra else None):
        if exact is not None:
            s = exact.sub(s)
    for pattern, repl in _PATTERNS:
        s = pattern.sub(repl, s)
    return s


def redact_and_cut(text: object, limit: int) -> str:
    """``text`` redacted whole, *then* cut to about ``limit`` characters (never half a
    ``<redacted>`` marker); a cut text ends saying how much was left out."""
    return cut_redacted(redact_text(text), limit)


def cut_redacted(text: str, limit: int) -> str:
    """An already redacted ``text`` cut to about ``limit`` characters (never half a
    ``<redacted>`` marker); a cut text ends saying how much was left out."""
    if len(text) <= limit:
        return text
    marker = text.rfind(REDACTED, 0, limit + len(REDACTED))
    if marker != -1 and marker < limit < marker + len(REDACTED):
        limit = marker + len(REDACTED)
    return f"{text[:limit]}{cut_note(len(text) - limit)}"


def cut_note(left_out: int) -> str:
    """What ends a cut text."""
    return f" [... {left_out} more characters cut]"


def cap_error_text(text: object, limit: int = ERROR_TEXT_CHARS) -> str:
    """An error text as we store or print it: redacted, then cut to ``limit`` characters."""
    return redact_and_cut(text, limit)


def is_presigned_url(url: str) -> bool:
    query = urlsplit(url).query.lower()
    return any(marker in query for marker in _PRESIGNED_MARKERS)


def redact_url(url: str) -> str:
    """A URL safe to log: a pre-signed URL loses its query string, other secrets are redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.query and is_presigned_url(url):
        return urlunsplit((parts.scheme, parts.netloc, parts.path, REDACTED, ""))
    return redact_text(url)


def url_for_display(url: str) -> str:
    """Scheme, host and path only: what error messages show for download URLs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact_mapping(data: Any) -> Any:
    """Deep copy of a JSON-like structure with secret-looking values redacted."""
    if isinstance(data, Mapping):
        out = {}
        for key, value in data.items():
            if isinstance(key, str) and key.lower() in {k.lower() for k in _SECRET_KEYS}:
                out[key] = REDACTED
            else:
                out[key] = redact_mapping(value)
        return out
    if isinstance(data, list | tuple):
        return [redact_mapping(v) for v in data]
    if isinstance(data, str):
        if data.startswith(("http://", "https://")):
            return redact_url(data)
        return redact_text(data)
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message with :func:`redact_text`.

    Installed on our own loggers and on ``urllib3`` (whose DEBUG lines carry full request URLs,
    including pre-signed query strings).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error handling
            return True
        redacted = redact_text(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


DEFAULT_REDACTED_LOGGERS = (
    "amc_reports.amc.client",
    "amc_reports.amc.download",
    "amc_reports.local.sandbox",
    "urllib3.connectionpool",
    "urllib3.response",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)

_FILTER = RedactingFilter()
_installed_lock = threading.Lock()
_installed: set[str] = set()


def install_log_redaction(*logger_names: str) -> None:
    """Attach the redacting filter to the named loggers (idempotent).

    A logger's filters only see records logged through that very logger (not its children), so
    the defaults name each logger that may carry a URL or a token.
    """
    names = logger_names or DEFAULT_REDACTED_LOGGERS
    with _installed_lock:
        for name in names:
            if name in _installed:
                continue
            logging.getLogger(name).addFilter(_FILTER)
            _installed.add(name)
