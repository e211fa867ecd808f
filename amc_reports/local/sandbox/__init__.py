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
    SandboxApp,
    sandbox_app,
)
from amc_reports.local.sandbox.launcher import (
    SandboxError,
    ensure_sandbox,
    sandbox_health,
    stop_sandbox,
)


def sandbox_credentials(app: str = "default") -> AmcCredentials:
    """The credentials of one of the sandbox's LwA apps (``default``, or a profile's name)."""
    found = sandbox_app(app)
    return AmcCredentials(
        client_id=found.client_id,
        client_secret=found.client_secret,
        refresh_token=found.refresh_token,
    )


def sandbox_client_config(
    base_url: str,
    *,
    advertiser_id: str | None = SANDBOX_ADVERTISER_ID,
    marketplace_id: str | None = SANDBOX_MARKETPLACE_ID,
    app: str = "default",
    **kw: Any,
) -> AmcClientConfig:
    """Client configuration for the sandbox at ``base_url`` (its LwA endpoint on the same host),
    as LwA app ``app``."""
    base = base_url.rstrip("/")
    return AmcClientConfig(
        api_base_url=base,
        token_url=base + TOKEN_PATH,
        credentials=sandbox_credentials(app),
        advertiser_id=advertiser_id,
        marketplace_id=marketplace_id,
        **{"source": "sandbox", **kw},
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
    "SandboxApp",
    "SandboxError",
    "ensure_sandbox",
    "sandbox_app",
    "sandbox_client_config",
    "sandbox_credentials",
    "sandbox_health",
    "stop_sandbox",
]
