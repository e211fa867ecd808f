"""The one place that decides live vs local: AMC credentials and the database come from env vars."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from amc_reports.orchestration.resources import AmcResource, WarehouseResource

AMC_CREDENTIAL_VARS = ("AMC_CLIENT_ID", "AMC_CLIENT_SECRET", "AMC_REFRESH_TOKEN")
DATABASE_URL_VAR = "AMC_REPORTS_DATABASE_URL"
SANDBOX_URL_VAR = "AMC_REPORTS_SANDBOX_URL"


class HalfConfiguredError(ValueError):
    """A half-configured environment (some AMC credentials set, others missing)."""


def _set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def build_amc_resource(env: Mapping[str, str] | None = None) -> AmcResource:
    """Live AMC when all three LwA variables are set, the sandbox when none are; else an error."""
    env = os.environ if env is None else env
    present = [name for name in AMC_CREDENTIAL_VARS if _set(env, name)]
    optional: dict[str, object] = {}
    if _set(env, "AMC_API_BASE_URL"):
        optional["api_base_url"] = dg.EnvVar("AMC_API_BASE_URL")
    if _set(env, "AMC_TOKEN_URL"):
        optional["token_url"] = dg.EnvVar("AMC_TOKEN_URL")
    if len(present) == len(AMC_CREDENTIAL_VARS):
        return AmcResource(
            client_id=dg.EnvVar("AMC_CLIENT_ID"),
            client_secret=dg.EnvVar("AMC_CLIENT_SECRET"),
            refresh_token=dg.EnvVar("AMC_REFRESH_TOKEN"),
            **optional,
        )
    if present:
        missing = [name for name in AMC_CREDENTIAL_VARS if name not in present]
        raise HalfConfiguredError(
            f"AMC credentials are half configured: {', '.join(present)} set but "
            f"{', '.join(missing)} missing. Set all three for live AMC, or none for the sandbox."
        )
    if _set(env, SANDBOX_URL_VAR):
        optional["sandbox_url"] = dg.EnvVar(SANDBOX_URL_VAR)
    return AmcResource(**optional)


def build_warehouse_resource(env: Mapping[str, str] | None = None) -> WarehouseResource:
    env = os.environ if env is None else env
    if _set(env, DATABASE_URL_VAR):
        return WarehouseResource(database_url=dg.EnvVar(DATABASE_URL_VAR))
    return WarehouseResource()


def build_resources(env: Mapping[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    return {"amc": build_amc_resource(env), "warehouse": build_warehouse_resource(env)}
