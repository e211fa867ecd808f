"""The one place that reads the environment and decides local or production.

- The environment (`AMC_REPORTS_ENV`, read here only):
  - `production`: live AMC, with every credential profile the instances use complete
    (`AMC_CLIENT_ID`, `AMC_CLIENT_SECRET`, `AMC_REFRESH_TOKEN` for `default`, `AMC_<PROFILE>_...`
    for the others; read through `dg.EnvVar`, never copied into config), and the Postgres at
    `AMC_REPORTS_DATABASE_URL`. Anything missing is one error naming every missing variable;
    never the sandbox, never the embedded PostgreSQL.
  - `local`: the AMC sandbox, and the Postgres at `AMC_REPORTS_DATABASE_URL` when set, else the
    embedded PostgreSQL. AMC credentials in the environment are ignored (a warning names them).
  - unset: local when neither `AMC_REPORTS_DATABASE_URL` nor any AMC credential variable is set
    (`make dev` needs no setting); production when both are; refused as ambiguous when only one
    of them is (a database URL without credentials looks like production with its AMC secrets
    missing, credentials without a database URL like production with its database missing).
  - any other value: refused, naming the allowed ones.
  The stand-ins' resources (`orchestration.local_resources`, whose dependencies are the `local`
  extra) are imported only when the environment is local.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from amc_reports.config import DEFAULT_PROFILE, ProfileEnvVars, ReportsConfig, profile_env_vars
from amc_reports.orchestration.resources import (
    DEFAULT_PG_IDLE_SECONDS,
    DEFAULT_SANDBOX_IDLE_SECONDS,
    AmcResource,
    LiveAmcResource,
    LwaProfile,
    NotifierResource,
    PostgresWarehouseResource,
    WarehouseResource,
)
from amc_reports.paths import DEFAULT_HOME

_log = logging.getLogger(__name__)

ENV_VAR = "AMC_REPORTS_ENV"
LOCAL = "local"
PRODUCTION = "production"
ENVIRONMENTS = (LOCAL, PRODUCTION)
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
HEAL_SECONDS_VAR = "AMC_REPORTS_NOTIFY_HEAL_SECONDS"


class EnvironmentConfigError(ValueError):
    """The environment cannot run as set: a bad `AMC_REPORTS_ENV`, production with variables
    missing, or `AMC_REPORTS_ENV` unset with variables that do not say which environment this is."""


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


def _profiles(profiles: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(profiles or ())) or (DEFAULT_PROFILE,)


def environment_name(
    env: Mapping[str, str] | None = None, profiles: Sequence[str] = (DEFAULT_PROFILE,)
) -> str:
    """`local` or `production`: `AMC_REPORTS_ENV` when set, else what the variables say (see the
    module's docstring); raises `EnvironmentConfigError` when it is neither or they say nothing
    clear. `profiles` are the credential profiles the instances use (`ReportsConfig.profiles`)."""
    env = os.environ if env is None else env
    chosen = _get(env, ENV_VAR).lower()
    if chosen in ENVIRONMENTS:
        return chosen
    if chosen:
        raise EnvironmentConfigError(
            f"{ENV_VAR}={_get(env, ENV_VAR)!r} is not an environment: set it to 'local' (the AMC "
            f"sandbox, and the embedded PostgreSQL unless {DATABASE_URL_VAR} is set) or "
            f"'production' (live AMC and {DATABASE_URL_VAR}), or leave it unset."
        )
    credentials = [n for c in _credentials(env, profiles) for n in c.present]
    database = bool(_get(env, DATABASE_URL_VAR))
    if database and credentials:
        return PRODUCTION
    if not database and not credentials:
        return LOCAL
    if database:
        wanted = ", ".join(n for p in _profiles(profiles) for n in profile_env_vars(p).names)
        raise EnvironmentConfigError(
            f"{DATABASE_URL_VAR} is set but no AMC credentials are ({wanted}), and {ENV_VAR} is "
            "not set: this looks like production with its AMC secrets missing, and would fill "
            f"that database with the AMC sandbox's synthetic data. Set {ENV_VAR}=production and "
            f"the credentials for live AMC, or {ENV_VAR}=local to use the AMC sandbox against "
            "that database on purpose."
        )
    raise EnvironmentConfigError(
        f"AMC credentials are set ({', '.join(credentials)}) but {DATABASE_URL_VAR} is not, and "
        f"{ENV_VAR} is not set: this looks like production with its database missing. Set "
        f"{ENV_VAR}=production and {DATABASE_URL_VAR} for live AMC, or {ENV_VAR}=local for the "
        "AMC sandbox and the embedded PostgreSQL (the credentials are then ignored)."
    )


def _credentials(env: Mapping[str, str], profiles: Sequence[str]) -> list[ProfileCredentials]:
    return [profile_credentials(env, p) for p in _profiles(profiles)]


def _missing_credentials(env: Mapping[str, str], profiles: Sequence[str]) -> list[str]:
    return [
        f"{', '.join(c.missing)} (credential profile {c.profile!r})"
        for c in _credentials(env, profiles)
        if not c.complete
    ]


def _missing_database(env: Mapping[str, str]) -> list[str]:
    return [] if _get(env, DATABASE_URL_VAR) else [f"{DATABASE_URL_VAR} (the warehouse's Postgres)"]


def _refuse_production(missing: Sequence[str]) -> EnvironmentConfigError:
    return EnvironmentConfigError(
        f"{ENV_VAR}=production, but these variables are not set:\n  - "
        + "\n  - ".join(missing)
        + "\nSet them where the code location and its runs run. Production uses live AMC and "
        "your Postgres only, never the AMC sandbox or the embedded PostgreSQL."
    )


def _warn_ignored_credentials(env: Mapping[str, str], profiles: Sequence[str]) -> None:
    ignored = [n for c in _credentials(env, profiles) for n in c.present]
    if ignored:
        _log.warning(
            "%s=local: using the AMC sandbox; the AMC credentials set (%s) are ignored",
            ENV_VAR,
            ", ".join(ignored),
        )


def build_amc_resource(
    env: Mapping[str, str] | None = None, profiles: Sequence[str] = (DEFAULT_PROFILE,)
) -> AmcResource:
    """Live AMC in production (every profile of `profiles` complete, else an error naming each
    missing variable), the sandbox when local."""
    env = os.environ if env is None else env
    if environment_name(env, profiles) == LOCAL:
        _warn_ignored_credentials(env, profiles)
        return _sandbox_resource(env)
    missing = _missing_credentials(env, profiles)
    if missing:
        raise _refuse_production(missing)
    return _live_resource(env, profiles)


def _live_resource(env: Mapping[str, str], profiles: Sequence[str]) -> LiveAmcResource:
    overrides: dict[str, object] = {}
    if _get(env, API_BASE_URL_VAR):
        overrides["api_base_url"] = dg.EnvVar(API_BASE_URL_VAR)
    if _get(env, TOKEN_URL_VAR):
        overrides["token_url"] = dg.EnvVar(TOKEN_URL_VAR)
    return LiveAmcResource(
        profiles={
            c.profile: LwaProfile(
                client_id=dg.EnvVar(c.variables.client_id),
                client_secret=dg.EnvVar(c.variables.client_secret),
                refresh_token=dg.EnvVar(c.variables.refresh_token),
            )
            for c in _credentials(env, profiles)
        },
        **overrides,
    )


def _sandbox_resource(env: Mapping[str, str]) -> AmcResource:
    from amc_reports.orchestration.local_resources import SandboxAmcResource

    local = local_settings(env)
    return SandboxAmcResource(
        sandbox_url=_get(env, SANDBOX_URL_VAR) or None,
        state_dir=str(local.sandbox_dir),
        idle_timeout_seconds=local.sandbox_idle_seconds,
    )


def build_warehouse_resource(
    env: Mapping[str, str] | None = None, config: ReportsConfig | None = None
) -> WarehouseResource:
    """The Postgres of `AMC_REPORTS_DATABASE_URL` (required in production), else (local only)
    the embedded PostgreSQL. `config` gives the inputs of migrations that need it (its instance
    aliases); None: no config was loaded."""
    env = os.environ if env is None else env
    profiles = config.profiles if config is not None else (DEFAULT_PROFILE,)
    aliases = (
        {i.instance_id: alias for alias, i in config.instances.items()}
        if config is not None
        else None
    )
    if environment_name(env, profiles) != LOCAL and _missing_database(env):
        raise _refuse_production(_missing_database(env))
    if _get(env, DATABASE_URL_VAR):
        return PostgresWarehouseResource(
            database_url=dg.EnvVar(DATABASE_URL_VAR), instance_aliases=aliases
        )
    from amc_reports.orchestration.local_resources import EmbeddedWarehouseResource

    settings = local_settings(env)
    return EmbeddedWarehouseResource(
        pgdata=str(settings.pgdata),
        idle_stop_seconds=settings.pg_idle_seconds,
        instance_aliases=aliases,
    )


def build_notifier_resource(env: Mapping[str, str] | None = None) -> NotifierResource:
    """Notifications to `AMC_REPORTS_NOTIFY_URLS` when it is set (never copied: `dg.EnvVar`), off
    otherwise. Run links point at `AMC_REPORTS_UI_URL` (default: the local UI of `make dev`)."""
    env = os.environ if env is None else env
    ui_url = _get(env, UI_URL_VAR)
    settings: dict[str, object] = {"ui_url": ui_url} if ui_url else {}
    heal = _get(env, HEAL_SECONDS_VAR)
    if heal:
        try:
            settings["heal_wait_seconds"] = float(heal)
        except ValueError:
            raise EnvironmentConfigError(
                f"{HEAL_SECONDS_VAR} must be a number of seconds, not {heal!r}"
            ) from None
    if _get(env, NOTIFY_URLS_VAR):
        return NotifierResource(urls=dg.EnvVar(NOTIFY_URLS_VAR), **settings)
    return NotifierResource(**settings)


def build_resources(
    env: Mapping[str, str] | None = None, config: ReportsConfig | None = None
) -> dict[str, dg.ConfigurableResource]:
    env = os.environ if env is None else env
    profiles = config.profiles if config is not None else (DEFAULT_PROFILE,)
    if environment_name(env, profiles) == PRODUCTION:
        # One refusal naming every missing variable, not one per resource.
        missing = _missing_database(env) + _missing_credentials(env, profiles)
        if missing:
            raise _refuse_production(missing)
    return {
        "amc": build_amc_resource(env, profiles),
        "warehouse": build_warehouse_resource(env, config),
        "notifier": build_notifier_resource(env),
    }


def resolved(resource: dg.ConfigurableResource) -> dg.ConfigurableResource:
    """A resource with its `dg.EnvVar` fields read, for use outside Dagster (the commands)."""
    return resource.process_config_and_initialize()
