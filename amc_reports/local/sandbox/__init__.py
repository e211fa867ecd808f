"""A local HTTP server that behaves like Amazon Marketing Cloud (and Login with Amazon).

Run it with ``amc-reports sandbox`` (foreground) or :func:`ensure_sandbox` (background, shared by
every process using the same state dir); talk to it with an :class:`~amc_reports.amc.AmcClient`
built from :func:`sandbox_client_config`. Admin endpoints live under ``/_sandbox/``.
"""

from __future__ import annotations

from typing import Any

from amc_reports.amc.models import AmcClientConfig, AmcCredentials
from amc_reports.local.sandbox.constants import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SANDBOX_ADVERTISER_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_INSTANCE_ID,
    SANDBOX_MARKETPLACE_ID,
    SANDBOX_REFRESH_TOKEN,
    TOKEN_PATH,
)
from amc_reports.local.sandbox.launcher import (
    SandboxError,
    ensure_sandbox,
    sandbox_health,
    stop_sandbox,
)


def sandbox_credentials() -> AmcCredentials:
    return AmcCredentials(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        refresh_token=SANDBOX_REFRESH_TOKEN,
    )


def sandbox_client_config(
    base_url: str,
    *,
    advertiser_id: str = SANDBOX_ADVERTISER_ID,
    marketplace_id: str = SANDBOX_MARKETPLACE_ID,
    **kw: Any,
) -> AmcClientConfig:
    """Client configuration for the sandbox at ``base_url`` (its LwA endpoint on the same host)."""
    base = base_url.rstrip("/")
    return AmcClientConfig(
        api_base_url=base,
        token_url=base + TOKEN_PATH,
        credentials=sandbox_credentials(),
        advertiser_id=advertiser_id,
        marketplace_id=marketplace_id,
        **kw,
    )


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SANDBOX_ADVERTISER_ID",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_INSTANCE_ID",
    "SANDBOX_MARKETPLACE_ID",
    "SANDBOX_REFRESH_TOKEN",
    "SandboxError",
    "ensure_sandbox",
    "sandbox_client_config",
    "sandbox_credentials",
    "sandbox_health",
    "stop_sandbox",
]
