"""Live AMC or the sandbox, decided from the credential profiles the instances use."""

from __future__ import annotations

import dagster as dg
import pytest

from amc_reports.environment import HalfConfiguredError, build_amc_resource
from amc_reports.orchestration.resources import (
    AmcProfileError,
    LiveAmcResource,
    SandboxAmcResource,
)

DEFAULT = {"AMC_CLIENT_ID": "id", "AMC_CLIENT_SECRET": "s3cret-a", "AMC_REFRESH_TOKEN": "Atzr|a"}
AGENCY_B = {
    "AMC_AGENCY_B_CLIENT_ID": "id-b",
    "AMC_AGENCY_B_CLIENT_SECRET": "s3cret-b",
    "AMC_AGENCY_B_REFRESH_TOKEN": "Atzr|b",
}
PROFILES = ("default", "agency_b")


def test_no_credentials_at_all_is_the_sandbox():
    assert isinstance(build_amc_resource({}, PROFILES), SandboxAmcResource)


def test_every_profile_set_is_live_with_each_profiles_variables_not_values():
    resource = build_amc_resource({**DEFAULT, **AGENCY_B}, PROFILES)
    assert isinstance(resource, LiveAmcResource)
    b = resource.profiles["agency_b"]
    assert isinstance(b.client_secret, dg.EnvVar)
    assert (b.client_id.env_var_name, b.client_secret.env_var_name) == (
        "AMC_AGENCY_B_CLIENT_ID",
        "AMC_AGENCY_B_CLIENT_SECRET",
    )
    assert "s3cret" not in repr(resource)


def test_a_profile_the_instances_do_not_use_is_not_needed():
    resource = build_amc_resource(AGENCY_B, ("agency_b",))
    assert sorted(resource.profiles) == ["agency_b"]
    with pytest.raises(AmcProfileError, match="AMC_CLIENT_ID, AMC_CLIENT_SECRET"):
        resource.credentials("default")


def test_a_half_set_profile_names_the_profile_and_the_missing_variables():
    env = {**DEFAULT, "AMC_AGENCY_B_CLIENT_ID": "id-b"}
    with pytest.raises(HalfConfiguredError) as err:
        build_amc_resource(env, PROFILES)
    message = str(err.value)
    assert "credential profile 'agency_b' is half configured" in message
    assert "AMC_AGENCY_B_CLIENT_SECRET, AMC_AGENCY_B_REFRESH_TOKEN missing" in message
    assert "'default'" in message and "live AMC" in message
    assert "s3cret" not in message and "id-b" not in message


def test_a_profile_without_credentials_next_to_a_set_one_is_an_error():
    with pytest.raises(HalfConfiguredError) as err:
        build_amc_resource(AGENCY_B, PROFILES)
    assert (
        "credential profile 'default' has no credentials: set AMC_CLIENT_ID, "
        "AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN" in str(err.value)
    )


def test_every_incomplete_profile_is_listed_at_once():
    env = {"AMC_CLIENT_SECRET": "x", "AMC_AGENCY_B_REFRESH_TOKEN": "y"}
    with pytest.raises(HalfConfiguredError) as err:
        build_amc_resource(env, PROFILES)
    assert "'default' is half configured" in str(err.value)
    assert "'agency_b' is half configured" in str(err.value)
