"""Resources: where AMC is (live, or the local sandbox), where the warehouse is (a Postgres URL,
or the embedded PostgreSQL), and where notifications go. Each is one class per target behind one
interface; which one a deployment gets is decided once, in `amc_reports.environment`.

The stand-ins' resources (`SandboxAmcResource`, `EmbeddedWarehouseResource`) live in
`orchestration.local_resources`, imported only when the environment is local: production never
imports the sandbox, the embedded PostgreSQL or their dependencies (the `local` extra).

Live AMC and the sandbox use the same client: only the base URL and the credentials differ. The
credentials are an instance's credential profile's (`profile:` in reports.yaml).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

import dagster as dg
from pydantic import Field

from amc_reports.amc import AmcClient, AmcClientConfig, AmcCredentials
from amc_reports.amc.auth import shared_tokens
from amc_reports.collection import CollectionPolicy, PollPolicy
from amc_reports.config import InstanceConfig, profile_env_vars
from amc_reports.notify import DEFAULT_UI_URL, Notifier
from amc_reports.warehouse import Warehouse
from amc_reports.warehouse.connection import CONNECTION_HINT, validate_database_url
from amc_reports.warehouse.store import open_warehouse

logger = logging.getLogger("amc_reports")

_announced: set[str] = set()
_announced_lock = threading.Lock()

DEFAULT_SANDBOX_IDLE_SECONDS = 4 * 3600.0
DEFAULT_PG_IDLE_SECONDS = 300.0


@dataclass(frozen=True)
class AmcAccount:
    """Which AMC account a client talks to, under which credential profile."""

    profile: str
    region: str
    advertiser_id: str | None = None
    marketplace_id: str | None = None


class AmcProfileError(ValueError):
    """An instance's credential profile has no credentials in this deployment."""


class AmcResource(dg.ConfigurableResource):
    """Amazon Marketing Cloud, as the collection uses it: the client of an instance (under its
    credential profile), and how to wait. `LiveAmcResource` and `SandboxAmcResource` say where
    AMC is. Clients of one profile share one access token per process (`shared_tokens`)."""

    poll_min_seconds: float = Field(default=1.0, description="Shortest wait between status polls")
    poll_max_seconds: float = Field(default=30.0, description="Longest wait between status polls")
    retry_budget_seconds: float = Field(
        default=300.0, description="How long one AMC call may keep retrying 429/5xx/network errors"
    )
    transient_retry_seconds: float = Field(
        default=60.0,
        description="First wait before submitting again after AMC failed on its side (internal "
        "error, timeout, REJECTED); doubles each time, up to the report's max_attempts",
    )
    adoption_retry_seconds: float = Field(
        default=5.0,
        description="Wait between looks at AMC's list of executions for one it created without "
        "naming it (3 looks in the same attempt)",
    )
    execution_wait_limit_seconds: float | None = Field(
        default=None,
        description="Longest wait for one AMC execution before it is cancelled; default the "
        "report's AMC timeout (timeout_seconds, AMC's default 21600) plus one hour",
    )

    def describe_target(self) -> str:
        raise NotImplementedError

    def client_config_for(self, account: AmcAccount) -> AmcClientConfig:
        """The client configuration of one AMC account under its credential profile (no
        advertiser and marketplace: for account-level calls such as listing accounts)."""
        raise NotImplementedError

    def client_config(self, instance: InstanceConfig) -> AmcClientConfig:
        return self.client_config_for(
            AmcAccount(
                instance.profile, instance.region, instance.advertiser_id, instance.marketplace_id
            )
        )

    def get_client(self, instance: InstanceConfig, log: logging.Logger | None = None) -> AmcClient:
        """The client of `instance`, with its profile's credentials and shared token."""
        self._announce(log)
        return self._client(self.client_config(instance), instance.profile)

    def account_client(
        self,
        profile: str,
        region: str,
        advertiser_id: str | None = None,
        marketplace_id: str | None = None,
    ) -> AmcClient:
        """A client of `profile` for one account (none: account-level calls only)."""
        config = self.client_config_for(AmcAccount(profile, region, advertiser_id, marketplace_id))
        return self._client(config, profile)

    def _client(self, config: AmcClientConfig, profile: str) -> AmcClient:
        label = f"credential profile '{profile}' ({', '.join(profile_env_vars(profile).names)})"
        return AmcClient(config, tokens=shared_tokens.provider(config, label=label))

    def _announce(self, log: logging.Logger | None) -> None:
        target = self.describe_target()
        with _announced_lock:
            first = target not in _announced
            _announced.add(target)
        if first:
            (log or logger).info(f"AMC: using {target}")

    @property
    def poll_policy(self) -> PollPolicy:
        return PollPolicy(
            min_seconds=self.poll_min_seconds,
            max_seconds=self.poll_max_seconds,
            max_wait_seconds=self.execution_wait_limit_seconds,
        )

    @property
    def collection_policy(self) -> CollectionPolicy:
        """How failures on AMC's side are retried (the report sets `max_attempts`)."""
        return CollectionPolicy(
            first_delay_seconds=self.transient_retry_seconds, poll=self.poll_policy
        )


class LwaProfile(dg.Config):
    """One credential profile's Login-with-Amazon app (each value a `dg.EnvVar`)."""

    client_id: str = Field(description="LwA client id (AMC_CLIENT_ID or AMC_<PROFILE>_CLIENT_ID)")
    client_secret: str = Field(
        description="LwA client secret (AMC_CLIENT_SECRET or AMC_<PROFILE>_CLIENT_SECRET)"
    )
    refresh_token: str = Field(
        description="LwA refresh token (AMC_REFRESH_TOKEN or AMC_<PROFILE>_REFRESH_TOKEN)"
    )


class LiveAmcResource(AmcResource):
    """Live AMC with Login-with-Amazon credentials per credential profile (from environment
    variables, `dg.EnvVar`): each instance uses the credentials of its profile."""

    profiles: dict[str, LwaProfile] = Field(
        description="Credential profile name -> its LwA app (from environment variables)"
    )
    api_base_url: str | None = Field(
        default=None, description="Override of the regional AMC API host (AMC_API_BASE_URL)"
    )
    token_url: str | None = Field(
        default=None, description="Override of the regional LwA token URL (AMC_TOKEN_URL)"
    )

    def describe_target(self) -> str:
        profiles = ", ".join(sorted(self.profiles))
        return f"live AMC ({self.api_base_url or 'regional API hosts'}; profiles {profiles})"

    def credentials(self, profile: str) -> AmcCredentials:
        found = self.profiles.get(profile)
        if found is None:
            names = ", ".join(profile_env_vars(profile).names)
            raise AmcProfileError(
                f"credential profile {profile!r} has no credentials in this deployment: set "
                f"{names} where the code location and the runs run"
            )
        return AmcCredentials(
            client_id=found.client_id,
            client_secret=found.client_secret,
            refresh_token=found.refresh_token,
        )

    def client_config_for(self, account: AmcAccount) -> AmcClientConfig:
        config = AmcClientConfig.for_region(
            account.region,
            self.credentials(account.profile),
            advertiser_id=account.advertiser_id,
            marketplace_id=account.marketplace_id,
            retry_budget_seconds=self.retry_budget_seconds,
        )
        overrides = {}
        if self.api_base_url:
            overrides["api_base_url"] = self.api_base_url
        if self.token_url:
            overrides["token_url"] = self.token_url
        return replace(config, **overrides) if overrides else config


class WarehouseResource(dg.ConfigurableResource):
    """The Postgres warehouse. `PostgresWarehouseResource` and `EmbeddedWarehouseResource` say
    where it is."""

    instance_aliases: dict[str, str] | None = Field(
        default=None,
        description=(
            "AMC instance id -> alias (from reports.yaml), for upgrading old databases; unset: "
            "no config loaded (a migration that needs it refuses)"
        ),
    )

    def database_url_now(self) -> str:
        """The database's URL (an embedded server is started if needed)."""
        raise NotImplementedError

    def cache_key(self) -> str:
        raise NotImplementedError

    def is_up(self) -> bool:
        """Whether the database can be used without starting anything (a sensor that runs every
        minute must not keep an idle embedded server alive)."""
        return True

    def connection_hint(self) -> str:
        return CONNECTION_HINT

    def unmigrated_warehouse(self) -> Warehouse:
        """A `Warehouse` on the database, migrations not applied (for `amc-reports migrate`)."""
        return Warehouse(
            validate_database_url(self.database_url_now()), connection_hint=self.connection_hint()
        )

    def migrate(self) -> tuple[Warehouse, list[str]]:
        """Apply the pending migrations with the same inputs as `get_warehouse` (for
        `amc-reports migrate`): the warehouse and the names of the migrations applied now."""
        warehouse = self.unmigrated_warehouse()
        return warehouse, warehouse.migrate(self.instance_aliases)

    def get_warehouse(self) -> Warehouse:
        """One migrated `Warehouse` per database and process (the asset and each of its checks
        ask for it in the same run)."""
        return open_warehouse(
            self.database_url_now,
            key=self.cache_key(),
            connection_hint=self.connection_hint(),
            instance_aliases=self.instance_aliases,
        )


class PostgresWarehouseResource(WarehouseResource):
    """A Postgres server of your own (AMC_REPORTS_DATABASE_URL)."""

    database_url: str = Field(description="Postgres URL (AMC_REPORTS_DATABASE_URL)")

    def database_url_now(self) -> str:
        return self.database_url

    def cache_key(self) -> str:
        return self.database_url


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go: apprise URLs (Slack, Teams, e-mail, webhooks...). No URL: notifications
    are off. The URLs carry secrets: they come from an environment variable (`dg.EnvVar`)."""

    urls: str = Field(
        default="",
        description="apprise notification URLs (AMC_REPORTS_NOTIFY_URLS); empty: notifications off",
    )
    ui_url: str = Field(
        default=DEFAULT_UI_URL,
        description="Base URL of the Dagster UI, for links to runs (AMC_REPORTS_UI_URL)",
    )
    heal_wait_seconds: float = Field(
        default=600.0,
        ge=0,
        description=(
            "How long a failed run's alerts wait for the reconciler to heal its weeks (the "
            "reconciler's grace and tick, and the run it launches): a week collected by then is "
            "not told (AMC_REPORTS_NOTIFY_HEAL_SECONDS)"
        ),
    )

    @property
    def enabled(self) -> bool:
        return bool(self.urls.strip())

    def get_notifier(self) -> Notifier:
        return Notifier(self.urls, self.ui_url)
