"""Resources: the AMC API (live or sandbox, same client) and the Postgres warehouse."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from amc_reports.amc import AmcClient, AmcClientConfig, AmcCredentials
from amc_reports.amc.sandbox import ensure_sandbox, sandbox_client_config
from amc_reports.collection import PollPolicy, RejectionPolicy
from amc_reports.config import InstanceConfig
from amc_reports.warehouse import Warehouse, resolve_database_url

logger = logging.getLogger("amc_reports")

_EMBEDDED = "<embedded>"  # cache key of the embedded server's Warehouse
_warehouses: dict[str, Warehouse] = {}
_warehouses_lock = threading.Lock()
_announced: set[str] = set()


class AmcResource(dg.ConfigurableResource):
    """Amazon Marketing Cloud. Without credentials it talks to the local AMC sandbox instead.

    Credentials come only from environment variables (see `amc_reports.environment`).
    """

    client_id: str | None = Field(default=None, description="LwA client id (AMC_CLIENT_ID)")
    client_secret: str | None = Field(default=None, description="LwA secret (AMC_CLIENT_SECRET)")
    refresh_token: str | None = Field(default=None, description="LwA token (AMC_REFRESH_TOKEN)")
    api_base_url: str | None = Field(
        default=None, description="Override of the regional AMC API host (AMC_API_BASE_URL)"
    )
    token_url: str | None = Field(default=None, description="Override of the LwA token URL")
    sandbox_url: str | None = Field(
        default=None, description="Sandbox address when no credentials are set"
    )
    poll_min_seconds: float = Field(default=1.0, description="Shortest wait between status polls")
    poll_max_seconds: float = Field(default=30.0, description="Longest wait between status polls")
    retry_budget_seconds: float = Field(
        default=300.0, description="How long one AMC call may keep retrying 429/5xx/network errors"
    )
    rejection_retry_seconds: float = 120.0
    rejection_max_attempts: int = 4

    @property
    def is_live(self) -> bool:
        return bool(self.client_id and self.client_secret and self.refresh_token)

    def describe_target(self) -> str:
        if self.is_live:
            return f"live AMC ({self.api_base_url or 'regional API hosts'})"
        return f"the AMC sandbox at {self.sandbox_url or 'the default local address'}"

    def client_config(self, instance: InstanceConfig) -> AmcClientConfig:
        if self.is_live:
            credentials = AmcCredentials(
                client_id=self.client_id or "",
                client_secret=self.client_secret or "",
                refresh_token=self.refresh_token or "",
            )
            config = AmcClientConfig.for_region(
                instance.region,
                credentials,
                advertiser_id=instance.advertiser_id,
                marketplace_id=instance.marketplace_id,
                retry_budget_seconds=self.retry_budget_seconds,
            )
            overrides = {}
            if self.api_base_url:
                overrides["api_base_url"] = self.api_base_url
            if self.token_url:
                overrides["token_url"] = self.token_url
            if overrides:
                config = replace(config, **overrides)
            return config
        base_url = self._sandbox_base_url()
        return sandbox_client_config(
            base_url,
            advertiser_id=instance.advertiser_id,
            marketplace_id=instance.marketplace_id,
            retry_budget_seconds=self.retry_budget_seconds,
        )

    def _sandbox_base_url(self) -> str:
        if self.sandbox_url:
            parsed = urlparse(self.sandbox_url)
            return ensure_sandbox(host=parsed.hostname or "127.0.0.1", port=parsed.port or 8765)
        return ensure_sandbox()

    def get_client(self, instance: InstanceConfig, log: logging.Logger | None = None) -> AmcClient:
        target = self.describe_target()
        if target not in _announced:
            _announced.add(target)
            (log or logger).info(f"AMC: using {target}")
        return AmcClient(self.client_config(instance))

    @property
    def poll_policy(self) -> PollPolicy:
        return PollPolicy(min_seconds=self.poll_min_seconds, max_seconds=self.poll_max_seconds)

    @property
    def rejection_policy(self) -> RejectionPolicy:
        return RejectionPolicy(
            max_attempts=self.rejection_max_attempts,
            first_delay_seconds=self.rejection_retry_seconds,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The Postgres warehouse: AMC_REPORTS_DATABASE_URL, or the embedded PostgreSQL when unset."""

    database_url: str | None = Field(
        default=None, description="Postgres URL (AMC_REPORTS_DATABASE_URL); embedded when unset"
    )

    def get_warehouse(self) -> Warehouse:
        """One migrated `Warehouse` per database and process.

        The embedded server (no URL configured) is found or started once per process, not on every
        call: the asset and each of its checks ask for the warehouse in the same run.
        """
        key = self.database_url or _EMBEDDED
        with _warehouses_lock:
            warehouse = _warehouses.get(key)
            if warehouse is None:
                warehouse = Warehouse(self.database_url or resolve_database_url())
                warehouse.migrate()
                _warehouses[key] = warehouse
            return warehouse
