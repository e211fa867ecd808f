"""Login with Amazon: access tokens for one set of credentials, cached, refreshed before expiry.

The refresh (``POST`` of the refresh token to the LwA token URL) goes through the client's request
engine, so 429, 5xx and connection errors are retried within the caller's deadline like any other
call; any other answer is :class:`AmcAuthError` at once (bad client id, secret or refresh token).
Tokens are registered as secrets the moment they arrive, so no log line or error can show them.

A client builds its own provider unless it is given one: :class:`TokenCache` keeps one provider
per (label, token URL, credentials) for the whole process, so every client of one credential
profile (one per AMC instance, per week, per command) shares one access token.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from urllib.parse import urlsplit

import requests

from amc_reports.amc.errors import AmcAuthError
from amc_reports.amc.http import error_message_of, request_id_of
from amc_reports.amc.models import AmcClientConfig, AmcCredentials
from amc_reports.amc.redact import register_secret
from amc_reports.amc.retry import Backoff, RequestEngine, RetryRule

log = logging.getLogger("amc_reports.amc.client")

# 429 and 5xx are worth another attempt; a refresh can be sent twice without harm.
LWA_TOKEN_RULE = RetryRule()

DEFAULT_EXPIRES_IN = 3600.0


# What to do when Login with Amazon refuses a token refresh (invalid_grant, invalid_client...).
CREDENTIALS_ADVICE = (
    "Check the profile's client id, client secret and refresh token: invalid_grant means the "
    "refresh token was revoked, expired or belongs to another client id (get a new one through "
    "the LwA consent flow); invalid_client a wrong client id or secret. Retrying does not help."
)


class LwaTokenProvider:
    """The LwA access token of one set of credentials, shared by all threads of one client.

    :meth:`get` returns the cached token until ``refresh_margin_seconds`` (at most a quarter of
    the token's life) before it expires, then fetches a new one. :meth:`invalidate` drops a token
    the API refused (401), so that the next :meth:`get` fetches a fresh one. ``label`` (e.g.
    "credential profile 'agency_b'") names the credentials in errors; it must not be secret.
    """

    def __init__(
        self,
        *,
        token_url: str,
        credentials: AmcCredentials,
        session: requests.Session,
        engine: RequestEngine,
        timeout: tuple[float, float],
        user_agent: str,
        refresh_margin_seconds: float = 60,
        label: str = "",
    ) -> None:
        self.token_url = token_url
        self.label = label
        self.refresh_margin_seconds = refresh_margin_seconds
        self._credentials = credentials
        self._engine = engine
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._session = session
        self._timeout = timeout
        self._token_path = urlsplit(token_url).path or "/"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0  # monotonic
        self.refresh_count = 0

    def __repr__(self) -> str:
        return (
            f"LwaTokenProvider(token_url={self.token_url!r}, "
            f"client_id={self._credentials.client_id!r}, refreshes={self.refresh_count})"
        )

    def get(self, deadline: float) -> str:
        """A valid access token; fetching one may retry until ``deadline`` (monotonic)."""
        with self._lock:
            now = time.monotonic()
            if self._token is not None and now < self._refresh_at:
                return self._token
            token, expires_in = self._fetch(deadline)
            margin = min(self.refresh_margin_seconds, expires_in / 4.0)
            self._token = token
            self._refresh_at = now + max(0.0, expires_in - margin)
            self.refresh_count += 1
            return token

    def invalidate(self, token: str | None) -> None:
        """Forget ``token`` (if it is still the cached one; ``None``: whatever is cached)."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None
                self._refresh_at = 0.0

    def _post(self) -> requests.Response:
        creds = self._credentials
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        return self._session.post(
            self.token_url, data=form, headers=self._headers, timeout=self._timeout
        )

    def _fetch(self, deadline: float) -> tuple[str, float]:
        resp = self._engine.send(
            self._post,
            rule=LWA_TOKEN_RULE,
            deadline=deadline,
            method="POST",
            path=self._token_path,
            label="LwA token refresh",
        )
        status = resp.status_code
        if status != 200:
            message, code = error_message_of(resp)
            whose = f" of {self.label}" if self.label else ""
            said = f"{code}: {message}" if code and code != message else message
            raise AmcAuthError(
                status,
                f"Login with Amazon refused the credentials{whose}. {CREDENTIALS_ADVICE} "
                f"LwA said: {said}",
                request_id=request_id_of(resp),
                method="POST",
                path=self._token_path,
                code=code,
            )
        try:
            data = resp.json()
        except ValueError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AmcAuthError(
                status,
                "token endpoint answered 200 without an access_token",
                request_id=request_id_of(resp),
                method="POST",
                path=self._token_path,
            )
        register_secret(token)
        try:
            expires_in = float(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        log.debug("obtained an LwA access token (expires in %.0fs)", expires_in)
        return token, max(1.0, expires_in)


class TokenCache:
    """One :class:`LwaTokenProvider` per (label, token URL, credentials), shared by every client
    of the process that asks for it (threads included); each provider has its own session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[tuple[str, str, str, str], LwaTokenProvider] = {}

    def provider(self, config: AmcClientConfig, *, label: str = "") -> LwaTokenProvider:
        creds = config.credentials
        digest = hashlib.sha256(
            f"{creds.client_secret}\0{creds.refresh_token}".encode()
        ).hexdigest()
        key = (label, config.token_url, creds.client_id, digest)
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                provider = LwaTokenProvider(
                    token_url=config.token_url,
                    credentials=creds,
                    session=requests.Session(),
                    engine=RequestEngine(
                        Backoff(
                            base_seconds=config.backoff_base_seconds,
                            max_seconds=config.backoff_max_seconds,
                            max_retry_after_seconds=config.max_retry_after_seconds,
                        )
                    ),
                    timeout=(config.connect_timeout, config.read_timeout),
                    user_agent=config.user_agent,
                    refresh_margin_seconds=config.token_refresh_margin_seconds,
                    label=label,
                )
                self._providers[key] = provider
            return provider

    def refresh_count(self, label: str) -> int:
        """Token refreshes so far by the providers of ``label`` (for tests and diagnostics)."""
        with self._lock:
            return sum(p.refresh_count for k, p in self._providers.items() if k[0] == label)


# The process's cache: what the Dagster resources and the commands share.
shared_tokens = TokenCache()
