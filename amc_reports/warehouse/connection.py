"""Connections to the warehouse database, and URLs that never show their password.

Every connection problem surfaces as one `DatabaseConfigError` that names the variable and the
target (host, port, database) with the password masked, in the message and in anything chained to
it.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo

DATABASE_URL_ENV = "AMC_REPORTS_DATABASE_URL"
CONNECTION_HINT = f"check {DATABASE_URL_ENV}"
CONNECT_TIMEOUT_SECONDS = 10
MASK = "***"

_log = logging.getLogger(__name__)


class DatabaseConfigError(RuntimeError):
    """The warehouse database is unreachable or its URL is wrong (the message shows no password)."""


def validate_database_url(url: str) -> str:
    """The URL, normalised for libpq (a SQLAlchemy `postgresql+driver://` prefix is accepted)."""
    normalized = re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)
    if "://" in normalized and not re.match(r"^postgres(?:ql)?://", normalized):
        scheme = normalized.split("://", 1)[0]
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} must be a postgresql:// URL, got scheme {scheme!r} "
            f"({mask_url(url)})"
        )
    try:
        pg_conninfo.conninfo_to_dict(normalized)
    except psycopg.Error as exc:
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} is not a valid PostgreSQL URL ({mask_url(url)}): "
            f"{mask_secrets(str(exc), url)}"
        ) from None
    return normalized


def password_of(url: str) -> str | None:
    """The password in a URL or key=value DSN, if any (best effort, for masking)."""
    if "://" in url:
        try:
            password = urlsplit(url).password
        except ValueError:  # unparsable (a bad IPv6 host...): find user:password@ by hand
            found = re.search(r"://[^:/@]*:([^@]*)@", url)
            password = found.group(1) if found else None
        if password:
            return unquote(password)
        match = re.search(r"[?&]password=([^&]*)", url)
        return unquote(match.group(1)) if match else None
    match = re.search(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url)
    if not match:
        return None
    value = match.group(1)
    return value[1:-1] if value.startswith("'") else value


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    masked = url
    if "://" in url:
        try:
            parts = urlsplit(url)
            if parts.password is not None:
                user = quote(unquote(parts.username or ""), safe="")
                host = parts.hostname or ""
                if ":" in host:
                    host = f"[{host}]"
                port = f":{parts.port}" if parts.port else ""
                netloc = f"{user}:{MASK}@{host}{port}"
                masked = urlunsplit(parts._replace(netloc=netloc))
        except ValueError:
            masked = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{MASK}@", url)
        masked = re.sub(r"([?&]password=)[^&]*", rf"\g<1>{MASK}", masked)
    else:
        masked = re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", rf"\g<1>{MASK}", url)
    return mask_secrets(masked, url)


def mask_secrets(text: str, url: str) -> str:
    """`text` with every occurrence of the URL's password (raw or URL-encoded) replaced by ***."""
    password = password_of(url)
    if not password:
        return text
    for secret in {password, quote(password, safe=""), quote(password)}:
        if secret:
            text = text.replace(secret, MASK)
    return text


def describe_target(url: str) -> str:
    """`host H port P database D user U` for messages (no password)."""
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
    return ", ".join(parts)


def open_connection(
    url: str, *, autocommit: bool = False, hint: str = CONNECTION_HINT, **kwargs: Any
) -> psycopg.Connection:
    """A new connection, or `DatabaseConfigError` saying which server could not be reached (and
    `hint`: where its URL comes from)."""
    options: dict[str, Any] = {"autocommit": autocommit, **kwargs}
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} is not a valid PostgreSQL URL ({mask_url(url)}): "
            f"{mask_secrets(str(exc), url)}"
        ) from None
    if "connect_timeout" not in params:
        options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if "application_name" not in params:
        options.setdefault("application_name", "amc_reports")
    try:
        return psycopg.connect(url, **options)
    except psycopg.OperationalError as exc:
        detail = mask_secrets(str(exc).strip(), url)
        raise DatabaseConfigError(
            f"cannot connect to the warehouse database ({describe_target(url)}; URL "
            f"{mask_url(url)}): {detail} ({hint})"
        ) from None


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URLs stay URLs, DSNs stay DSNs)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return pg_conninfo.make_conninfo(url, dbname=dbname)
