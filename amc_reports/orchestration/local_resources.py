"""The local stand-ins' resources: the AMC sandbox and the embedded PostgreSQL (pgserver).

Imported only by `amc_reports.environment` when the environment is local (and by tests): this
module pulls in `amc_reports.local`, whose dependencies (duckdb, pgserver, ...) are the `local`
extra, absent from production installs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from amc_reports.amc import AmcClientConfig
from amc_reports.local.postgres import EmbeddedPostgres, embedded_server
from amc_reports.local.sandbox import ensure_sandbox, sandbox_client_config
from amc_reports.orchestration.resources import (
    DEFAULT_PG_IDLE_SECONDS,
    DEFAULT_SANDBOX_IDLE_SECONDS,
    AmcAccount,
    AmcResource,
    WarehouseResource,
)
from amc_reports.paths import DEFAULT_HOME


class SandboxAmcResource(AmcResource):
    """The local AMC sandbox: used at `sandbox_url` (started there when it is a free loopback
    port), else found or started for `state_dir`. Each credential profile is one of the
    sandbox's LwA apps (no credentials to set)."""

    sandbox_url: str | None = Field(
        default=None, description="Use, or start, a sandbox at this URL (AMC_REPORTS_SANDBOX_URL)"
    )
    state_dir: str | None = Field(
        default=None, description="The sandbox's state folder (default .amc_reports/sandbox)"
    )
    idle_timeout_seconds: float = Field(
        default=DEFAULT_SANDBOX_IDLE_SECONDS,
        description="A sandbox started here stops after this long without requests (0: never)",
    )

    def describe_target(self) -> str:
        return f"the AMC sandbox at {self.sandbox_url or 'a local address'}"

    def client_config_for(self, account: AmcAccount) -> AmcClientConfig:
        return sandbox_client_config(
            self.base_url(),
            advertiser_id=account.advertiser_id,
            marketplace_id=account.marketplace_id,
            app=account.profile,
            retry_budget_seconds=self.retry_budget_seconds,
        )

    def base_url(self) -> str:
        """The URL of a healthy sandbox, starting one if needed."""
        state_dir = Path(self.state_dir) if self.state_dir else DEFAULT_HOME / "sandbox"
        return ensure_sandbox(
            state_dir=state_dir, url=self.sandbox_url, idle_timeout=self.idle_timeout_seconds
        )


class EmbeddedWarehouseResource(WarehouseResource):
    """The embedded PostgreSQL (pgserver), started on first use and shared by every process of
    the project; stopped when idle."""

    pgdata: str | None = Field(
        default=None,
        description="Its data folder (AMC_REPORTS_PGDATA; default .amc_reports/postgres)",
    )
    idle_stop_seconds: float = Field(
        default=DEFAULT_PG_IDLE_SECONDS,
        description="Stop it after this long unused (AMC_REPORTS_PG_IDLE_SECONDS; < 0: never)",
    )

    def server(self) -> EmbeddedPostgres:
        pgdata = Path(self.pgdata) if self.pgdata else DEFAULT_HOME / "postgres"
        return embedded_server(pgdata, self.idle_stop_seconds)

    def database_url_now(self) -> str:
        return _embedded_uri(self.server())

    def cache_key(self) -> str:
        return f"embedded:{self.server().pgdata}"

    def is_up(self) -> bool:
        return self.server().is_running()

    def connection_hint(self) -> str:
        return "AMC_REPORTS_DATABASE_URL is unset; set it to use another server"


def _embedded_uri(server: EmbeddedPostgres) -> str:
    from amc_reports.warehouse import DatabaseConfigError

    try:
        return server.uri()
    except Exception as exc:
        raise DatabaseConfigError(
            f"AMC_REPORTS_DATABASE_URL is not set and the embedded PostgreSQL in {server.pgdata} "
            f"could not be started: {exc}. Its log is {server.log_path}. Set "
            "AMC_REPORTS_DATABASE_URL to use another server."
        ) from None
