"""Connections to the warehouse database, and URLs that never show their password.

Every connection problem surfaces as one `DatabaseConfigError` that names the variable and the
target (host, port, database) with the password masked, in the message and in anything chained to
it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import psycopg
from psycopg import conninfo as pg_conninfo

DATABASE_URL_ENV = "AMC_REPORTS_DATABASE_URL"
CONNECTION_HINT = f"check {DATABASE_URL_ENV}"
CONNECT_TIMEOUT_SECONDS = 10
MASK = "***"

_log = logging.getLogger(__name__)


class DatabaseConfigError(RuntimeError):
    """The warehouse database is unreachable or its URL is wrong (the message shows no password)."""


class DatabaseUnreachableError(DatabaseConfigError):
    """No connection could be opened (the server is down, restarting, or refused it)."""


def validate_database_url(url: str) -> str:
    """The URL, normalised for libpq (a SQLAlchemy `postgresql+driver://` prefix is accepted)."""
    normalized = re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)
    if "://" in normalized and not re.match(r"^postgres(?:ql)?://", normalized):
        scheme = normalized.split("://", 1)[0]
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} must be a postgresql:// URL, got scheme {scheme!r} "
            f"({mask_url(url)})"
        )
    _check_parsable(normalized)
    return normalized


def _check_parsable(url: str) -> None:
    """`DatabaseConfigError` (password masked) unless libpq reads `url` the way it is written."""
    if _password_misread(url):
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV}: the password in the URL ({mask_url(url)}) contains characters "
            "that PostgreSQL reads as part of the URL's structure (a / or an @, or a ? or # "
            "before them), so it would connect with the wrong credentials or to the wrong "
            "server. Percent-encode them in the password (/ as %2F, @ as %40, ? as %3F, "
            "# as %23), or use the key=value form (password='...')."
        )
    try:
        pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        unquoted = [m["value"] for m in _DSN_PASSWORD.finditer(url) if m["value"][0] != "'"]
        hint = (
            "; a password with a space must be quoted (password='...')"
            if "://" not in url and any(len(value.split()) > 1 for value in unquoted)
            else ""
        )
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} is not a valid PostgreSQL URL ({mask_url(url)}): "
            f"{mask_secrets(str(exc).strip(), url)}{hint}"
        ) from None


@dataclass(frozen=True)
class _Credentials:
    """The `user:password@` of a URL: the text around the password, the password as written, and
    whether libpq would read another password out of it (an unencoded / or @ inside it)."""

    head: str  # scheme://user:
    password: str
    tail: str  # @host...
    misread: bool


# user:password@rest (after scheme://) with the password running to the last "@" of the URL.
_UP_TO_LAST_AT = re.compile(r"^(?P<head>[^:/?#@]*:)(?P<password>.*)@(?P<rest>[^@]*)$", re.DOTALL)
# password=... in a URL's query string, and in a key=value DSN (quoted or not).
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)(?P<value>[^&]*)")
# An unquoted DSN value runs to the next "key=" (a space in it is a mistake, but still secret).
_DSN_PASSWORD = re.compile(
    r"(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S.*?)(?=\s+\w+\s*=|\s*$)", re.DOTALL
)


def _url_credentials(url: str) -> _Credentials | None:
    """The password of a `scheme://user:password@...` URL the way its writer meant it.

    libpq ends `user:password` at the first "@" or "/". Where that leaves a clean rest (no "@" in
    host or path, numeric ports), libpq's reading is the one meant, and a later "@" is a value in
    the query string. Else the password runs to the last "@": a /, @, ? or # inside it was not
    percent-encoded, and libpq would read the URL differently (``misread``).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    first = re.search(r"[@/]", rest)
    libpq_userinfo, after = None, rest
    if first is not None and first.group() == "@":
        libpq_userinfo, after = rest[: first.start()], rest[first.end() :]
    last = _UP_TO_LAST_AT.match(rest)
    if libpq_userinfo is not None and ":" in libpq_userinfo:
        user, _, password = libpq_userinfo.partition(":")
        as_libpq = _Credentials(f"{scheme}://{user}:", password, "@" + after, misread=False)
        if last is None or last["password"] == password or _reads_cleanly(url, after):
            return as_libpq
    elif last is None or _reads_cleanly(url, after):
        return None
    return _Credentials(f"{scheme}://{last['head']}", last["password"], "@" + last["rest"], True)


def _reads_cleanly(url: str, after_userinfo: str) -> bool:
    """Host and path without "@", numeric ports, and libpq parses the whole URL."""
    authority = re.split(r"[/?]", after_userinfo, maxsplit=1)[0]
    path = after_userinfo[len(authority) :].split("?", 1)[0]
    if "@" in authority or "@" in path:
        return False
    for host in authority.split(","):
        host_port = host.rsplit("]", 1)[-1]  # what follows an [IPv6] literal
        if ":" in host_port and not host_port.rpartition(":")[2].isdigit():
            return False
    try:
        pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return False
    return True


def _password_misread(url: str) -> bool:
    credentials = _url_credentials(url)
    return credentials is not None and credentials.misread


def _passwords_in(url: str) -> set[str]:
    """Every way the password of a URL or key=value DSN may be read (for masking)."""
    found: set[str] = set()
    if "://" in url:
        credentials = _url_credentials(url)
        written = [credentials.password] if credentials else []
        written += [m["value"] for m in _QUERY_PASSWORD.finditer(url)]
        found.update(written + [unquote(value) for value in written])
    else:
        for value in (m["value"] for m in _DSN_PASSWORD.finditer(url)):
            found.update({value, value[1:-1] if value.startswith("'") else value})
            if not value.startswith("'"):  # libpq quotes the words of an unquoted one apart
                found.update(word for word in value.split() if len(word) >= 3)
    with contextlib.suppress(psycopg.Error):
        found.add(str(pg_conninfo.conninfo_to_dict(url).get("password") or ""))
    return {value for value in found if value}


def mask_url(url: str) -> str:
    """The URL (or DSN) with its password replaced by ***, however it is written."""
    if "://" in url:
        cred = _url_credentials(url)
        masked = f"{cred.head}{MASK}{cred.tail}" if cred and cred.password else url
        masked = _QUERY_PASSWORD.sub(rf"\g<key>{MASK}", masked)
    else:
        masked = _DSN_PASSWORD.sub(rf"\g<key>{MASK}", url)
    return mask_secrets(masked, url)


def mask_secrets(text: str, url: str) -> str:
    """`text` with every reading of the URL's password (raw or URL-encoded) replaced by ***."""
    secrets: set[str] = set()
    for password in _passwords_in(url):
        secrets.update({password, quote(password, safe=""), quote(password)})
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def describe_target(url: str) -> str:
    """`host H port P database D user U` for messages (no password)."""
    if _password_misread(url):
        return mask_url(url)  # libpq's host, port and database would be pieces of the password
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return mask_url(url)
    host = params.get("host") or "localhost (default socket)"
    parts = [f"host {host}"]
    if params.get("port"):
        parts.append(f"port {params['port']}")
    parts.append(f"database {params.get('dbname') or params.get('user') or '(default)'}")
    if params.get("user"):
        parts.append(f"user {params['user']}")
    return mask_secrets(", ".join(parts), url)


def open_connection(
    url: str, *, autocommit: bool = False, hint: str = CONNECTION_HINT, **kwargs: Any
) -> psycopg.Connection:
    """A new connection, or `DatabaseConfigError` saying which server could not be reached (and
    `hint`: where its URL comes from)."""
    options: dict[str, Any] = {"autocommit": autocommit, **kwargs}
    _check_parsable(url)
    params = pg_conninfo.conninfo_to_dict(url)
    if "connect_timeout" not in params:
        options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if "application_name" not in params:
        options.setdefault("application_name", "amc_reports")
    try:
        return psycopg.connect(url, **options)
    except psycopg.OperationalError as exc:
        detail = mask_secrets(str(exc).strip(), url)
        raise DatabaseUnreachableError(
            f"cannot connect to the warehouse database ({describe_target(url)}; URL "
            f"{mask_url(url)}): {detail} ({hint})"
        ) from None
