"""The one place that reads the environment and decides live or local.

- AMC: live when every credential profile the instances use has its three variables set
  (`AMC_CLIENT_ID`, `AMC_CLIENT_SECRET`, `AMC_REFRESH_TOKEN` for `default`, `AMC_<PROFILE>_...`
  for the others; read through `dg.EnvVar`, never copied into config), the local sandbox when
  none is set, an error naming each incomplete profile and its variables otherwise.
- The warehouse: the Postgres at `AMC_REPORTS_DATABASE_URL` when set, else the embedded PostgreSQL.
- Notifications: to the apprise URLs of `AMC_REPORTS_NOTIFY_URLS` (read through `dg.EnvVar`: they
  carry secrets) when set, off otherwise; run links point at `AMC_REPORTS_UI_URL`.
- Local state (`AMC_REPORTS_HOME`, default `<project>/.amc_reports`): the sandbox's and the embedded
  PostgreSQL's folders, and their idle timeouts.

Everything below this module (the AMC client, the warehouse, the local services, the config loader)
takes explicit values; the Dagster definitions and the `amc-reports` commands both build their
resources here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from amc_reports.config import DEFAULT_PROFILE, ProfileEnvVars, ReportsConfig, profile_env_vars
from amc_reports.orchestration.resources import (
    DEFAULT_PG_IDLE_SECONDS,
    DEFAULT_SANDBOX_IDLE_SECONDS,
    AmcResource,
    EmbeddedWarehouseResource,
    LiveAmcResource,
    LwaProfile,
    NotifierResource,
    PostgresWarehouseResource,
    SandboxAmcResource,
    WarehouseResource,
)
from amc_reports.paths import DEFAULT_HOME

_log = logging.getLogger(__name__)

API_BASE_URL_VAR = "AMC_API_BASE_URL"
TOKEN_URL_VAR = "AMC_TOKEN_URL"
DATABASE_URL_VAR = "AMC_REPORTS_DATABASE_URL"
SANDBOX_URL_VAR = "AMC_REPORTS_SANDBOX_URL"
SANDBOX_IDLE_VAR = "AMC_REPORTS_SANDBOX_IDLE_TIMEOUT"
HOME_VAR = "AMC_REPORTS_HOME"
PGDATA_VAR = "AMC_REPORTS_PGDATA"
PG_IDLE_VAR = "AMC_REPORTS_PG_IDLE_SECONDS"
NOTIFY_URLS_VAR = "AMC_REPORTS_NOTIFY_URLS"
UI_URL_VAR = "AMC_REPORTS_UI_URL"


class HalfConfiguredError(ValueError):
    """A half-configured environment (some AMC credentials set, others missing)."""


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


@dataclass(frozen=True)
class LocalSettings:
    """Where the local stand-ins keep their state, and when they stop by themselves."""

    home: Path
    pgdata: Path
    pg_idle_seconds: float
    sandbox_dir: Path
    sandbox_idle_seconds: float


def local_settings(env: Mapping[str, str] | None = None) -> LocalSettings:
    env = os.environ if env is None else env
    home = Path(_get(env, HOME_VAR)).expanduser() if _get(env, HOME_VAR) else DEFAULT_HOME
    pgdata = (
        Path(_get(env, PGDATA_VAR)).expanduser() if _get(env, PGDATA_VAR) else home / "postgres"
    )
    return LocalSettings(
        home=home,
        pgdata=pgdata,
        pg_idle_seconds=_seconds(env, PG_IDLE_VAR, DEFAULT_PG_IDLE_SECONDS),
        sandbox_dir=home / "sandbox",
        sandbox_idle_seconds=_seconds(env, SANDBOX_IDLE_VAR, DEFAULT_SANDBOX_IDLE_SECONDS),
    )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds; `never` (or a negative number) means never stop."""
    raw = _get(env, name).lower()
    if not raw:
        return default
    if raw in {"never", "inf", "infinity", "off"}:
        return -1.0
    try:
        return float(raw)
    except ValueError:
        _log.warning("%s=%r is not a number of seconds; using %s", name, raw, default)
        return default


@dataclass(frozen=True)
class ProfileCredentials:
    """Which of a credential profile's three variables are set (names only, never values)."""

    variables: ProfileEnvVars
    present: tuple[str, ...]

    @property
    def profile(self) -> str:
        return self.variables.profile

    @property
    def complete(self) -> bool:
        return len(self.present) == len(self.variables.names)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(name for name in self.variables.names if name not in self.present)


def profile_credentials(env: Mapping[str, str], profile: str) -> ProfileCredentials:
    variables = profile_env_vars(profile)
    return ProfileCredentials(variables, tuple(n for n in variables.names if _get(env, n)))


def build_amc_resource(
    env: Mapping[str, str] | None = None, profiles: Sequence[str] = (DEFAULT_PROFILE,)
) -> AmcResource:
    """Live AMC when every profile in `profiles` has its three LwA variables set, the sandbox when
    none has any; anything between is an error naming each incomplete profile and its variables.

    `profiles` are the credential profiles the instances use (`ReportsConfig.profiles`).
    """
    env = os.environ if env is None else env
    found = [profile_credentials(env, p) for p in dict.fromkeys(profiles or (DEFAULT_PROFILE,))]
    if not any(f.present for f in found):
        local = local_settings(env)
        return SandboxAmcResource(
            sandbox_url=_get(env, SANDBOX_URL_VAR) or None,
            state_dir=str(local.sandbox_dir),
            idle_timeout_seconds=local.sandbox_idle_seconds,
        )
    incomplete = [f for f in found if not f.complete]
    if incomplete:
        raise HalfConfiguredError(_incomplete_message(found, incomplete))
    overrides: dict[str, object] = {}
    if _get(env, API_BASE_URL_VAR):
        overrides["api_base_url"] = dg.EnvVar(API_BASE_URL_VAR)
    if _get(env, TOKEN_URL_VAR):
        overrides["token_url"] = dg.EnvVar(TOKEN_URL_VAR)
    return LiveAmcResource(
        profiles={
            f.profile: LwaProfile(
                client_id=dg.EnvVar(f.variables.client_id),
                client_secret=dg.EnvVar(f.variables.client_secret),
                refresh_token=dg.EnvVar(f.variables.refresh_token),
            )
            for f in found
        },
        **overrides,
    )


def _incomplete_message(
    found: Sequence[ProfileCredentials], incomplete: Sequence[ProfileCredentials]
) -> str:
    lines = []
    for f in incomplete:
        if f.present:
            lines.append(
                f"credential profile {f.profile!r} is half configured: {', '.join(f.present)} "
                f"set but {', '.join(f.missing)} missing"
            )
        else:
            lines.append(
                f"credential profile {f.profile!r} has no credentials: set "
                f"{', '.join(f.variables.names)}"
            )
    configured = [f.profile for f in found if f.complete]
    tail = (
        f" (profile(s) {', '.join(map(repr, configured))} are set, so this is live AMC)"
        if configured
        else ""
    )
    return (
        "AMC credentials are incomplete" + tail + ":\n  - " + "\n  - ".join(lines) + "\n"
        "Set all three variables of every profile the instances use for live AMC, or none at all "
        "for the local sandbox."
    )


def build_warehouse_resource(
    env: Mapping[str, str] | None = None, config: ReportsConfig | None = None
) -> WarehouseResource:
    """The Postgres of `AMC_REPORTS_DATABASE_URL`, else the embedded PostgreSQL. `config` gives
    the inputs of migrations that need it (its instance aliases); None: no config was loaded."""
    env = os.environ if env is None else env
    aliases = (
        {i.instance_id: alias for alias, i in config.instances.items()}
        if config is not None
        else None
    )
    if _get(env, DATABASE_URL_VAR):
        return PostgresWarehouseResource(
            database_url=dg.EnvVar(DATABASE_URL_VAR), instance_aliases=aliases
        )
    local = local_settings(env)
    return EmbeddedWarehouseResource(
        pgdata=str(local.pgdata), idle_stop_seconds=local.pg_idle_seconds, instance_aliases=aliases
    )


def build_notifier_resource(env: Mapping[str, str] | None = None) -> NotifierResource:
    """Notifications to `AMC_REPORTS_NOTIFY_URLS` when it is set (never copied: `dg.EnvVar`), off
    otherwise. Run links point at `AMC_REPORTS_UI_URL` (default: the local UI of `make dev`)."""
    env = os.environ if env is None else env
    ui_url = _get(env, UI_URL_VAR)
    settings: dict[str, object] = {"ui_url": ui_url} if ui_url else {}
    if _get(env, NOTIFY_URLS_VAR):
        return NotifierResource(urls=dg.EnvVar(NOTIFY_URLS_VAR), **settings)
    return NotifierResource(**settings)


def build_resources(
    env: Mapping[str, str] | None = None, config: ReportsConfig | None = None
) -> dict[str, dg.ConfigurableResource]:
    profiles = config.profiles if config is not None else (DEFAULT_PROFILE,)
    return {
        "amc": build_amc_resource(env, profiles),
        "warehouse": build_warehouse_resource(env, config),
        "notifier": build_notifier_resource(env),
    }


def resolved(resource: dg.ConfigurableResource) -> dg.ConfigurableResource:
    """A resource with its `dg.EnvVar` fields read, for use outside Dagster (the commands)."""
    return resource.process_config_and_initialize()
