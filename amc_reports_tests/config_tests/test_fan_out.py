"""Issue 13: a report over several instances, instance tags, and credential profiles."""

import pytest

from amc_reports.config import (
    MultipleInstancesError,
    load_config,
    profile_env_vars,
)
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.config_tests.helpers import load, problems_of, report

AGENCY_EXAMPLE = PROJECT_ROOT / "examples" / "agency.yaml"

THREE = """
instances:
  b_us:
    instance_id: amc2
    advertiser_id: E2
    marketplace_id: M
    tags: [us, retail]
  a_us:
    instance_id: amc1
    advertiser_id: E1
    marketplace_id: M
    tags: [us]
  c_de:
    instance_id: amc3
    advertiser_id: E3
    marketplace_id: M
    region: EU
    profile: agency_b
    tags: [retail]
"""


@pytest.mark.parametrize(
    ("selection", "aliases"),
    [
        ("instance: a_us", ["a_us"]),
        ("instances: [c_de, a_us]", ["c_de", "a_us"]),  # the order written
        ("instances: all", ["b_us", "a_us", "c_de"]),  # file order
        ("instances: {tag: retail}", ["b_us", "c_de"]),
    ],
)
def test_selections(tmp_path, selection, aliases):
    key, value = selection.split(": ", 1)
    fields: dict[str, str | None] = {"instance": None, key: value}
    body = THREE + "reports:\n" + report(**fields)
    r = load(tmp_path, body).reports["r"]
    assert [i.alias for i in r.instances] == aliases


def test_targets_are_one_per_asset_in_a_stable_order(tmp_path):
    body = THREE + "reports:\n" + report("z", instance=None, instances="all")
    body += report("y", instance="c_de") + report("x", instance=None, instances="[a_us]")
    config = load(tmp_path, body)
    pairs = [(t.report.name, t.instance.alias) for t in config.targets()]
    assert pairs == [("z", "b_us"), ("z", "a_us"), ("z", "c_de"), ("y", "c_de"), ("x", "a_us")]
    assert pairs == [(t.report.name, t.instance.alias) for t in load(tmp_path, body).targets()]
    report_, instance = config.targets()[0]  # a pair
    assert report_.name == "z" and instance.alias == "b_us"


def test_instance_works_for_one_and_refuses_several(tmp_path):
    body = THREE + "reports:\n" + report("one", instance=None, instances="[c_de]")
    body += report("many", instance=None, instances="{tag: us}")
    config = load(tmp_path, body)
    assert config.reports["one"].instance.alias == "c_de"
    assert config.reports["one"].instance.pool == "amc_c_de"
    with pytest.raises(MultipleInstancesError, match=r"report 'many' runs on 2 instances"):
        _ = config.reports["many"].instance


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"instances": "[a_us, nowhere]"}, "field 'instances' names unknown instance(s) 'nowhere'"),
        ({"instances": "[a_us, a_us]"}, "field 'instances' lists instance 'a_us' more than once"),
        ({"instances": "[]"}, "field 'instances' must list at least one instance"),
        ({"instances": "{tag: eu}"}, "field 'instances' selects tag 'eu', which no instance has"),
        ({"instances": "some"}, "field 'instances' must be 'all', a list of instance aliases"),
        ({"instances": "{label: us}"}, "field 'instances' must be 'all', a list"),
        ({"instances": "all", "instance": "a_us"}, "use either 'instance' or 'instances'"),
        ({"instance": None}, "field 'instance' is required"),
    ],
)
def test_selection_errors(tmp_path, fields, expected):
    body = THREE + "reports:\n" + report(**fields)
    assert f"report 'r': {expected}" in problems_of(tmp_path, body)


def test_instance_tags_and_profiles_are_checked(tmp_path):
    body = THREE.replace("tags: [us]", "tags: [us, us, US]").replace(
        "profile: agency_b", "profile: Agency-B"
    )
    message = problems_of(tmp_path, body + "reports:\n" + report(instance="a_us"))
    assert "instance 'a_us': field 'tags' must be a list of tags" in message
    assert "instance 'c_de': field 'profile' must be a profile name" in message


def test_profile_env_var_names():
    default = profile_env_vars()
    assert default.names == ("AMC_CLIENT_ID", "AMC_CLIENT_SECRET", "AMC_REFRESH_TOKEN")
    agency = profile_env_vars("agency_b")
    assert agency.names == (
        "AMC_AGENCY_B_CLIENT_ID",
        "AMC_AGENCY_B_CLIENT_SECRET",
        "AMC_AGENCY_B_REFRESH_TOKEN",
    )
    with pytest.raises(ValueError, match="profile"):
        profile_env_vars("Agency B")


def test_instances_name_their_profiles_variables_never_values(tmp_path, monkeypatch):
    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_SECRET", "s3cret-value")
    config = load(tmp_path, THREE + "reports:\n" + report(instance="c_de"))
    c_de = config.instances["c_de"]
    assert c_de.profile == "agency_b"
    assert profile_env_vars(c_de.profile).client_secret == "AMC_AGENCY_B_CLIENT_SECRET"
    assert profile_env_vars(config.instances["a_us"].profile).client_id == "AMC_CLIENT_ID"
    assert config.profiles == ("default", "agency_b")
    assert "s3cret-value" not in repr(config)


def test_agency_example(tmp_path):
    config = load_config(AGENCY_EXAMPLE)
    assets = {f"amc/{t.instance.alias}/{t.report.name}" for t in config.targets()}
    assert len(assets) == len(config.targets()) == 9
    assert {"amc/initech_de/brand_halo", "amc/globex_us/new_to_brand"} <= assets
    assert config.profiles == ("default", "agency_b")
    assert config.reports["brand_halo"].is_templated
    assert config.reports["brand_halo"].sql.startswith("-- Brand halo")
    assert config.reports["new_to_brand"].timezone == "America/New_York"  # wins over the anchor
