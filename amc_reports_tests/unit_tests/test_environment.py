"""Local or production, decided once from AMC_REPORTS_ENV (or, unset, from what is set), and the
refusals of everything in between, each naming what is wrong."""

from __future__ import annotations

import dagster as dg
import pytest

from amc_reports.environment import (
    EnvironmentConfigError,
    build_amc_resource,
    build_resources,
    build_warehouse_resource,
    environment_name,
)
from amc_reports.orchestration.local_resources import (
    EmbeddedWarehouseResource,
    SandboxAmcResource,
)
from amc_reports.orchestration.resources import (
    AmcProfileError,
    LiveAmcResource,
    PostgresWarehouseResource,
)

DEFAULT = {"AMC_CLIENT_ID": "id", "AMC_CLIENT_SECRET": "s3cret-a", "AMC_REFRESH_TOKEN": "Atzr|a"}
AGENCY_B = {
    "AMC_AGENCY_B_CLIENT_ID": "id-b",
    "AMC_AGENCY_B_CLIENT_SECRET": "s3cret-b",
    "AMC_AGENCY_B_REFRESH_TOKEN": "Atzr|b",
}
PROFILES = ("default", "agency_b")
DATABASE = {"AMC_REPORTS_DATABASE_URL": "postgresql://amc:pw-x9@db.example:5432/amc"}
PRODUCTION = {"AMC_REPORTS_ENV": "production"}
LOCAL = {"AMC_REPORTS_ENV": "local"}
SECRETS = ("s3cret", "pw-x9", "Atzr|", "id-b")


def refusal(env: dict[str, str], profiles=PROFILES, build=build_amc_resource) -> str:
    with pytest.raises(EnvironmentConfigError) as err:
        build(env, profiles)
    message = str(err.value)
    assert not any(secret in message for secret in SECRETS), message
    return message


# --- unset: what is set says which environment this is ------------------------------------------


def test_nothing_set_is_local_sandbox_and_embedded_postgres():
    assert environment_name({}, PROFILES) == "local"
    resources = build_resources({})
    assert isinstance(resources["amc"], SandboxAmcResource)
    assert isinstance(resources["warehouse"], EmbeddedWarehouseResource)


def test_credentials_and_database_set_is_production():
    env = {**DEFAULT, **AGENCY_B, **DATABASE}
    assert environment_name(env, PROFILES) == "production"
    assert isinstance(build_amc_resource(env, PROFILES), LiveAmcResource)


def test_database_url_without_credentials_is_refused_as_ambiguous():
    message = refusal(DATABASE)
    assert message == (
        "AMC_REPORTS_DATABASE_URL is set but no AMC credentials are (AMC_CLIENT_ID, "
        "AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN, AMC_AGENCY_B_CLIENT_ID, AMC_AGENCY_B_CLIENT_SECRET, "
        "AMC_AGENCY_B_REFRESH_TOKEN), and AMC_REPORTS_ENV is not set: this looks like production "
        "with its AMC secrets missing, and would fill that database with the AMC sandbox's "
        "synthetic data. Set AMC_REPORTS_ENV=production and the credentials for live AMC, or "
        "AMC_REPORTS_ENV=local to use the AMC sandbox against that database on purpose."
    )
    # The warehouse alone is refused the same way: the definitions never get half a choice.
    alone = refusal(DATABASE, build=lambda env, _: build_warehouse_resource(env))
    assert alone.endswith(
        "AMC_REPORTS_ENV=local to use the AMC sandbox against that database on purpose."
    )


def test_credentials_without_database_url_are_refused_as_ambiguous():
    message = refusal(DEFAULT)
    assert message == (
        "AMC credentials are set (AMC_CLIENT_ID, AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN) but "
        "AMC_REPORTS_DATABASE_URL is not, and AMC_REPORTS_ENV is not set: this looks like "
        "production with its database missing. Set AMC_REPORTS_ENV=production and "
        "AMC_REPORTS_DATABASE_URL for live AMC, or AMC_REPORTS_ENV=local for the AMC sandbox and "
        "the embedded PostgreSQL (the credentials are then ignored)."
    )


def test_a_bad_environment_name_is_refused_naming_the_allowed_ones():
    message = refusal({"AMC_REPORTS_ENV": "prod", **DEFAULT, **DATABASE})
    assert message == (
        "AMC_REPORTS_ENV='prod' is not an environment: set it to 'local' (the AMC sandbox, and "
        "the embedded PostgreSQL unless AMC_REPORTS_DATABASE_URL is set) or 'production' (live "
        "AMC and AMC_REPORTS_DATABASE_URL), or leave it unset."
    )


def test_the_environment_name_ignores_case_and_spaces():
    assert environment_name({"AMC_REPORTS_ENV": " Production "}) == "production"


# --- production: everything or one refusal naming each missing variable -------------------------


def test_production_with_everything_is_live_amc_and_the_database_as_env_vars():
    resources = build_resources({**PRODUCTION, **DEFAULT, **DATABASE})
    amc, warehouse = resources["amc"], resources["warehouse"]
    assert isinstance(amc, LiveAmcResource) and isinstance(warehouse, PostgresWarehouseResource)
    assert isinstance(amc.profiles["default"].client_secret, dg.EnvVar)
    assert isinstance(warehouse.database_url, dg.EnvVar)
    assert not any(secret in repr(resources) for secret in SECRETS)


def test_production_with_nothing_names_every_variable_in_one_message():
    with pytest.raises(EnvironmentConfigError) as err:
        build_resources(PRODUCTION)
    assert str(err.value) == (
        "AMC_REPORTS_ENV=production, but these variables are not set:\n"
        "  - AMC_REPORTS_DATABASE_URL (the warehouse's Postgres)\n"
        "  - AMC_CLIENT_ID, AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN (credential profile 'default')\n"
        "Set them where the code location and its runs run. Production uses live AMC and your "
        "Postgres only, never the AMC sandbox or the embedded PostgreSQL."
    )


def test_production_without_the_database_url_names_it():
    with pytest.raises(EnvironmentConfigError) as err:
        build_resources({**PRODUCTION, **DEFAULT})
    message = str(err.value)
    assert "  - AMC_REPORTS_DATABASE_URL (the warehouse's Postgres)\n" in message
    assert "AMC_CLIENT" not in message
    with pytest.raises(EnvironmentConfigError, match="AMC_REPORTS_DATABASE_URL"):
        build_warehouse_resource({**PRODUCTION, **DEFAULT})


@pytest.mark.parametrize("missing", sorted({**DEFAULT, **AGENCY_B}))
def test_production_missing_any_one_credential_names_it_and_its_profile(missing):
    env = {**PRODUCTION, **DEFAULT, **AGENCY_B, **DATABASE}
    del env[missing]
    profile = "agency_b" if "AGENCY_B" in missing else "default"
    message = refusal(env)
    assert f"  - {missing} (credential profile '{profile}')" in message
    assert message.count("\n  - ") == 1, message


def test_production_names_every_incomplete_profile_at_once():
    env = {**PRODUCTION, **DATABASE, "AMC_CLIENT_SECRET": "x", "AMC_AGENCY_B_REFRESH_TOKEN": "y"}
    message = refusal(env)
    assert "  - AMC_CLIENT_ID, AMC_REFRESH_TOKEN (credential profile 'default')" in message
    assert (
        "  - AMC_AGENCY_B_CLIENT_ID, AMC_AGENCY_B_CLIENT_SECRET (credential profile 'agency_b')"
        in message
    )


def test_database_and_half_the_credentials_unset_env_is_production_and_refused():
    message = refusal({**DATABASE, **DEFAULT})
    assert message.startswith("AMC_REPORTS_ENV=production, but these variables are not set:")
    assert (
        "  - AMC_AGENCY_B_CLIENT_ID, AMC_AGENCY_B_CLIENT_SECRET, AMC_AGENCY_B_REFRESH_TOKEN "
        "(credential profile 'agency_b')" in message
    )


def test_production_never_falls_back_to_the_sandbox_even_with_a_sandbox_url():
    env = {**PRODUCTION, **DEFAULT, **DATABASE, "AMC_REPORTS_SANDBOX_URL": "http://127.0.0.1:1"}
    assert isinstance(build_amc_resource(env), LiveAmcResource)


def test_a_profile_the_instances_do_not_use_is_not_needed():
    resource = build_amc_resource({**PRODUCTION, **AGENCY_B}, ("agency_b",))
    assert sorted(resource.profiles) == ["agency_b"]
    with pytest.raises(AmcProfileError, match="AMC_CLIENT_ID, AMC_CLIENT_SECRET"):
        resource.credentials("default")


def test_live_profiles_hold_each_profiles_variables_not_values():
    resource = build_amc_resource({**PRODUCTION, **DEFAULT, **AGENCY_B}, PROFILES)
    b = resource.profiles["agency_b"]
    assert (b.client_id.env_var_name, b.client_secret.env_var_name) == (
        "AMC_AGENCY_B_CLIENT_ID",
        "AMC_AGENCY_B_CLIENT_SECRET",
    )
    assert "s3cret" not in repr(resource)


# --- local: the stand-ins on purpose -----------------------------------------------------------


def test_local_with_a_database_url_is_the_sandbox_against_that_database():
    resources = build_resources({**LOCAL, **DATABASE})
    assert isinstance(resources["amc"], SandboxAmcResource)
    assert isinstance(resources["warehouse"], PostgresWarehouseResource)


def test_local_ignores_credentials_and_says_so_by_name(caplog):
    caplog.set_level("WARNING", logger="amc_reports.environment")
    assert isinstance(build_amc_resource({**LOCAL, **DEFAULT}), SandboxAmcResource)
    assert (
        "AMC_REPORTS_ENV=local: using the AMC sandbox; the AMC credentials set (AMC_CLIENT_ID, "
        "AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN) are ignored" in caplog.text
    )
    assert "s3cret" not in caplog.text
