"""`amc-reports instances`: the instances a credential profile sees, as reports.yaml entries."""

from __future__ import annotations

import uuid

import pytest
import yaml

from amc_reports.cli import main
from amc_reports.config import load_config
from amc_reports.local.sandbox import TOKEN_PATH, sandbox_app

CONFIGURED = """instances:
  known:
    instance_id: {known}
    advertiser_id: ENTITYSANDBOX
    marketplace_id: ATVPDKIKX0DER
reports:
  perf:
    instance: known
    sql: SELECT campaign_id, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1
    start_date: 2026-03-01
"""


@pytest.fixture
def two_instances(sandbox, tmp_path):
    """Two instances the sandbox lists; the reports file already has the first."""
    known, new = (f"amcdisc{uuid.uuid4().hex[:8]}" for _ in range(2))
    sandbox.patch_config({"instances": {known: {"rows": 1}, new: {"rows": 1}}})
    path = tmp_path / "reports.yaml"
    path.write_text(CONFIGURED.format(known=known))
    return path, known, new


def test_lists_new_instances_as_entries_that_load(sandbox_env, two_instances, tmp_path, capsys):
    path, known, new = two_instances
    assert main(["instances", "--config", str(path), "--profile", "agency_b"]) == 0
    out = capsys.readouterr().out
    listed = yaml.safe_load(out)["instances"]
    [(alias, entry)] = [(a, e) for a, e in listed.items() if e["instance_id"] == new]
    assert alias == f"sandbox_{new}"
    assert entry == {
        "instance_id": new,
        "advertiser_id": "ENTITYSANDBOX",
        "marketplace_id": "ATVPDKIKX0DER",
        "region": "NA",
        "profile": "agency_b",
        "description": f"Sandbox {new} (AMC Sandbox)",
    }
    assert known not in {e["instance_id"] for e in listed.values()}
    assert f"# {known} is configured as known" in out
    # Pasted into the reports file, the entries load.
    config = yaml.safe_load(path.read_text())
    config["instances"].update(listed)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert load_config(path).instances[alias].profile == "agency_b"


def test_live_credentials_of_the_profile_are_used_and_a_refusal_names_it(
    sandbox, two_instances, monkeypatch, capsys
):
    path, _known, new = two_instances
    app = sandbox_app("agency_b")
    monkeypatch.setenv("AMC_REPORTS_ENV", "production")  # live AMC's code path, at the sandbox
    monkeypatch.setenv("AMC_API_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("AMC_TOKEN_URL", sandbox.base_url + TOKEN_PATH)
    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_ID", app.client_id)
    monkeypatch.setenv("AMC_AGENCY_B_REFRESH_TOKEN", app.refresh_token)
    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_SECRET", "not-the-secret-0815")
    assert main(["instances", "--config", str(path), "--profile", "agency_b"]) == 1
    err = capsys.readouterr().err
    assert "credential profile 'agency_b'" in err and "401" in err
    assert "not-the-secret-0815" not in err

    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_SECRET", app.client_secret)
    assert main(["instances", "--config", str(path), "--profile", "agency_b"]) == 0
    out = capsys.readouterr().out
    assert "live AMC" in out and new in out


def test_a_half_configured_profile_is_refused(two_instances, monkeypatch, capsys):
    path, _known, _new = two_instances
    monkeypatch.setenv("AMC_REPORTS_ENV", "production")
    monkeypatch.setenv("AMC_AGENCY_B_CLIENT_ID", "someone")
    assert main(["instances", "--config", str(path), "--profile", "agency_b"]) == 2
    err = capsys.readouterr().err
    assert "AMC_REPORTS_ENV=production, but these variables are not set:" in err
    assert (
        "AMC_AGENCY_B_CLIENT_SECRET, AMC_AGENCY_B_REFRESH_TOKEN (credential profile 'agency_b')"
        in (err)
    )
    assert "someone" not in err
