"""`amc-reports sync-workflows` against the sandbox: creating, adopting, updating, drift."""

from __future__ import annotations

import uuid

import pytest

from amc_reports.amc import AmcApiError
from amc_reports.cli import main
from amc_reports.config import load_config
from amc_reports.warehouse.workflow_syncs import WorkflowSyncs
from amc_reports.workflow_sync import WorkflowSpec, fingerprint, remote_fingerprint

SQL = "SELECT campaign_id, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1"
NEW_SQL = "SELECT campaign_id, SUM(clicks) AS clicks FROM sponsored_ads_traffic GROUP BY 1"
WORKFLOW = "amc_reports_perf"


def write_config(path, ids: dict[str, str], sql: str = SQL) -> None:
    instances = "".join(
        f"  {alias}:\n    instance_id: {instance_id}\n    advertiser_id: ENTITYSANDBOX\n"
        f"    marketplace_id: ATVPDKIKX0DER\n    parameters: {{asins: [B01, B02]}}\n"
        for alias, instance_id in ids.items()
    )
    path.write_text(
        f"instances:\n{instances}reports:\n  perf:\n    instances: all\n    sql: {sql}\n"
        "    start_date: 2026-03-01\n    parameters:\n"
        '      since: "{{week_start - 28d}}"\n      asins: "{{instance.asins}}"\n'
        "  saved:\n    instances: all\n    workflow_id: managed_in_amc\n"
        "    start_date: 2026-03-01\n"
    )


@pytest.fixture
def agency(sandbox_env, warehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", warehouse.database_url)
    ids = {alias: f"amcsync{alias}{uuid.uuid4().hex[:6]}" for alias in ("fresh", "same", "other")}
    path = tmp_path / "reports.yaml"
    write_config(path, ids)
    return path, ids, warehouse


def sync(capsys, path, *args: str, report: str = "perf") -> tuple[int, dict[str, str]]:
    """Exit code, and AMC instance id -> outcome of `report`'s workflows."""
    code = main(["sync-workflows", "--config", str(path), *args])
    by_instance = {}
    for line in capsys.readouterr().out.splitlines():
        # "amc/<alias>/<report>: workflow <id> on <instance id>: <outcome>"
        target, _, rest = line.partition(": workflow ")
        if target.endswith(f"/{report}"):
            instance_id, _, outcome = rest.partition(" on ")[2].partition(": ")
            by_instance[instance_id] = outcome
    return code, by_instance


def test_creates_adopts_updates_and_reports_drift(agency, sandbox, capsys):
    path, ids, warehouse = agency
    config = load_config(path)
    report = config.reports["perf"]
    with sandbox.client() as client:
        # Before the first sync: one instance already has the report's workflow, one another.
        same = WorkflowSpec.of(report, config.instances["same"])
        client.create_workflow(
            ids["same"], WORKFLOW, SQL, input_parameters=[dict(p) for p in same.input_parameters]
        )
        client.create_workflow(ids["other"], WORKFLOW, "SELECT 1 AS edited_by_hand")

        code, seen = sync(capsys, path, "--dry-run")
        assert code == 1  # the foreign workflow on `other` needs a decision
        assert seen[ids["fresh"]] == "would create"
        with pytest.raises(AmcApiError):  # a dry run writes nothing
            client.get_workflow(ids["fresh"], WORKFLOW)

        code, seen = sync(capsys, path)
        assert code == 1
        assert seen[ids["fresh"]] == "created"
        assert seen[ids["same"]].startswith("adopted")
        assert seen[ids["other"]].startswith("drifted (exists in AMC with other SQL")
        created = client.get_workflow(ids["fresh"], WORKFLOW)
        assert created["sqlQuery"] == SQL
        assert created["inputParameters"] == [
            {"name": "since", "dataType": "STRING"},
            {"name": "asins", "dataType": "ARRAY"},
        ]
        assert (
            client.get_workflow(ids["other"], WORKFLOW)["sqlQuery"] == "SELECT 1 AS edited_by_hand"
        )
        records = {r.amc_instance: r for r in WorkflowSyncs(warehouse.connect).list("perf")}
        assert {a: r.action.value for a, r in records.items()} == {
            "fresh": "created",
            "same": "adopted",
        }
        assert records["fresh"].remote_fingerprint == remote_fingerprint(created)

        # Overwriting the foreign workflow is a decision: --force, for that instance only.
        code, seen = sync(capsys, path, "--instance", "other", "--force")
        assert code == 0 and seen[ids["other"]].startswith("updated (overwrote drift")
        assert client.get_workflow(ids["other"], WORKFLOW)["sqlQuery"] == SQL

        code, seen = sync(capsys, path)
        assert code == 0 and set(seen.values()) == {"unchanged"}

        # The report's SQL changes: every instance's workflow is updated.
        write_config(path, ids, NEW_SQL)
        code, seen = sync(capsys, path)
        assert code == 0
        assert set(seen.values()) == {"updated (the report's SQL or parameters changed)"}
        for instance_id in ids.values():
            assert client.get_workflow(instance_id, WORKFLOW)["sqlQuery"] == NEW_SQL

        # Someone edits one workflow in AMC: drift, not overwritten; deleted: created again.
        client.update_workflow(ids["same"], WORKFLOW, "SELECT 2 AS edited_in_amc")
        client.delete_workflow(ids["fresh"], WORKFLOW)
        code, seen = sync(capsys, path)
        assert code == 1
        assert seen[ids["same"]].startswith("drifted (edited in AMC since the last sync")
        assert seen[ids["fresh"]] == "created (deleted in AMC since the last sync)"
        assert seen[ids["other"]] == "unchanged"
        assert client.get_workflow(ids["same"], WORKFLOW)["sqlQuery"] == "SELECT 2 AS edited_in_amc"
        # Edited back to what the last sync wrote, it is in sync again.
        client.update_workflow(
            ids["same"],
            WORKFLOW,
            NEW_SQL,
            input_parameters=[dict(p) for p in same.input_parameters],
        )
        code, seen = sync(capsys, path, "--report", "perf")
        assert code == 0 and seen[ids["same"]] == "unchanged"


def test_reports_running_saved_workflows_are_skipped(agency, capsys):
    path, ids, _warehouse = agency
    code, seen = sync(capsys, path, "--report", "saved", report="saved")
    assert code == 0
    assert set(seen.values()) == {"skipped (runs a saved workflow managed in AMC)"}


def test_unknown_report_or_instance_is_refused(agency, capsys):
    path, _ids, _warehouse = agency
    assert main(["sync-workflows", "--config", str(path), "--report", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_fingerprint_ignores_line_endings_and_outer_space_not_the_query():
    params = [{"name": "a", "dataType": "STRING"}]
    base = fingerprint("SELECT 1\nFROM t", params)
    assert fingerprint("  SELECT 1   \r\nFROM t\n", params) == base
    assert fingerprint("SELECT 2\nFROM t", params) != base
    assert fingerprint("SELECT 1\nFROM t", [{"name": "a", "dataType": "ARRAY"}]) != base
