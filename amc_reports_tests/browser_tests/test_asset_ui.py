"""The Dagster UI as a person uses it, on a live deployment (Postgres, sandbox, gRPC, webserver,
daemon: `amc_reports.local.stack.Stack`) with one example report.

Before the browser opens, the deployment collects a few weeks through GraphQL backfills, one of
them failing in AMC. Then, in Chromium: the report in the catalog and its asset page, its weekly
partitions (materialized and failed), one week's metadata with the lineage ids (compared with the
warehouse), the failed week's run and its message, the row-count plot, the week's check results,
and a backfill of 3 weeks launched from the UI's own Materialize dialog, watched until it ends.
Every step saves a screenshot in `test-artifacts/browser/` (numbered in the order above).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from amc_reports.local.stack import LAUNCH_BACKFILL, Stack, wait_for
from amc_reports.warehouse import Warehouse
from amc_reports_tests.fixtures_postgres import server_temp_dir

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

INSTANCE_ID = "amcbrowser01"
REPORT = "campaign_performance"
ASSET_PATH = ["amc", "us", REPORT]
ASSET_URL = "/assets/" + "/".join(ASSET_PATH)
DESCRIPTION = "Impressions, clicks and spend per sponsored-ads campaign and week."
OWNER = "marketing-analytics"

FAILED_WEEK = date(2026, 3, 1)  # AMC ends its execution FAILED
GOOD_WEEKS = [date(2026, 3, 8) + timedelta(weeks=i) for i in range(4)]
OPENED_WEEK = GOOD_WEEKS[1]  # the week whose metadata and checks are read in the UI
UI_WEEKS = [date(2026, 4, 5) + timedelta(weeks=i) for i in range(3)]  # backfilled from the UI
ROWS, UI_ROWS = 30, 45  # rows per week before and in the UI's backfill: the plot shows both
FAILURE_REASON = "Query exceeded resource limits"
SANDBOX = {"latency_seconds": 2, "rows": ROWS, "max_running": 10}
WEEKLY_CHECKS = ("lineage_complete", "row_counts_consistent", "schema_stable", "not_empty")

REPORTS_YAML = f"""
instances:
  us:
    instance_id: {INSTANCE_ID}
    advertiser_id: ENTITYBROWSER
    marketplace_id: ATVPDKIKX0DER
    region: NA
    description: US advertiser instance (the AMC sandbox in this test)
reports:
  {REPORT}:
    instance: us
    sql: |
      SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
             SUM(total_cost) AS spend
      FROM sponsored_ads_traffic
      GROUP BY campaign_id
    start_date: {FAILED_WEEK.isoformat()}
    week_starts_on: sunday
    timezone: America/New_York
    lag_days: 14
    description: {DESCRIPTION}
    owners: [team:{OWNER}]
    schedule: false
"""


# -- the deployment and its data -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(artifacts_dir: Path):
    # Outside pytest's basetemp: see fixtures_postgres.server_temp_dir.
    root = server_temp_dir("amc_reports_browser_")
    config = root / "reports.yaml"
    config.write_text(REPORTS_YAML)
    stack = Stack(root=root, pool_limit=4, reports_config=config, sandbox_config=SANDBOX)
    try:
        stack.start()
        # The "Join the Dagster community" dialog shown once per instance on localhost.
        stack.graphql("mutation { setNuxSeen }")
        yield stack
    finally:
        stack.stop()
        postgres = getattr(stack, "postgres", None)
        if postgres is not None:
            # Now, not at exit: the exit hook would write its holders file into a removed folder.
            with contextlib.suppress(Exception):
                postgres.release()
        logs = artifacts_dir / "stack-logs"
        logs.mkdir(exist_ok=True)
        for log in root.glob("*.log"):
            shutil.copyfile(log, logs / log.name)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Prepared:
    failed_backfill_id: str
    backfill_id: str
    warehouse: Warehouse


def launch_backfill(stack: Stack, start: date, end: date, tags: dict[str, str]) -> str:
    """`Stack.launch_backfill` with run tags (the UI's dialog has a Tags section too)."""
    data = stack.graphql(
        LAUNCH_BACKFILL,
        {
            "backfillParams": {
                "partitionsByAssets": [
                    {
                        "assetKey": {"path": ASSET_PATH},
                        "partitions": {
                            "range": {"start": start.isoformat(), "end": end.isoformat()}
                        },
                    }
                ],
                "tags": [{"key": key, "value": value} for key, value in tags.items()],
            }
        },
    )["launchPartitionBackfill"]
    assert data["__typename"] == "LaunchBackfillSuccess", data
    return data["backfillId"]


@pytest.fixture(scope="module")
def prepared(stack: Stack) -> Prepared:
    """One week failed in AMC, then four weeks collected (both through GraphQL backfills)."""
    warehouse = Warehouse(stack.warehouse_url)
    stack.set_sandbox_config(
        {**SANDBOX, "instances": {INSTANCE_ID: {"fail_next": 1, "failure_reason": FAILURE_REASON}}}
    )
    # No run retry: the week stays failed (a retry would submit a new, succeeding execution).
    failed_id = launch_backfill(stack, FAILED_WEEK, FAILED_WEEK, {"dagster/max_retries": "0"})
    wait_for(
        lambda: (row := warehouse.get_week(REPORT, FAILED_WEEK)) and row.amc_execution_id,
        "the failing week's AMC execution",
        timeout=300,
    )
    # Its execution took the one fault; the other weeks may run alongside it.
    stack.set_sandbox_config(SANDBOX)
    backfill_id = stack.launch_backfill(
        [ASSET_PATH], GOOD_WEEKS[0].isoformat(), GOOD_WEEKS[-1].isoformat()
    )
    failed = stack.wait_backfill(failed_id, timeout=600)
    assert failed["status"] == "COMPLETED_FAILED", failed
    done = stack.wait_backfill(backfill_id, timeout=600)
    assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
    assert warehouse.get_week(REPORT, FAILED_WEEK).status == "failed"
    for week in GOOD_WEEKS:
        assert warehouse.get_week(REPORT, week).status == "completed", week
    return Prepared(failed_id, backfill_id, warehouse)


# -- helpers ---------------------------------------------------------------------------------------


def shot(page: Page, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"{name}.png"))


def open_asset(page: Page, stack: Stack) -> None:
    page.goto(stack.webserver_url + ASSET_URL)
    expect(page.get_by_role("button", name="Materialize…")).to_be_visible()


def metadata_value(page: Page, label: str) -> Locator:
    """The value cell next to a metadata label in the shown table."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=label, exact=True))
    return row.get_by_role("cell").nth(1)


def select_partition(page: Page, placeholder: str, week: date) -> None:
    """Type the week in a partition list's filter box, then click it (the list is virtual)."""
    page.get_by_placeholder(placeholder).fill(week.isoformat())
    page.get_by_text(week.isoformat(), exact=True).filter(visible=True).first.click()


# -- the steps -------------------------------------------------------------------------------------


def test_catalog_and_asset_page_describe_the_report(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    page.goto(stack.webserver_url + "/assets")
    link = page.get_by_role("link", name=re.compile(REPORT))
    expect(link).to_be_visible()
    expect(page.get_by_text(DESCRIPTION).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ partitions$"))).to_be_visible()  # status loaded
    shot(page, artifacts_dir, "01-catalog")

    link.click()
    expect(page).to_have_url(re.compile(re.escape(ASSET_URL) + r"(\?|$)"))
    expect(page.get_by_text(DESCRIPTION, exact=True)).to_be_visible()
    expect(page.get_by_text("sponsored_ads_traffic").first).to_be_visible()  # the SQL
    expect(page.get_by_text("amc_us", exact=True).first).to_be_visible()  # group
    expect(page.get_by_text(OWNER, exact=True).first).to_be_visible()
    shot(page, artifacts_dir, "02-asset-overview")


def test_partitions_show_materialized_and_failed_weeks(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    open_asset(page, stack)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    expect(page.get_by_text(f"Materialized ({len(GOOD_WEEKS)})")).to_be_visible()
    expect(page.get_by_text("Failed (1)")).to_be_visible()
    shot(page, artifacts_dir, "03-partitions")


def test_week_metadata_carries_the_ids_of_its_warehouse_row(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    row = prepared.warehouse.get_week(REPORT, OPENED_WEEK)
    open_asset(page, stack)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    select_partition(page, "Filter by name", OPENED_WEEK)
    expect(page).to_have_url(re.compile(f"partition={OPENED_WEEK.isoformat()}"))
    expect(page.get_by_text("Materialized", exact=True)).to_be_visible()

    execution_id = metadata_value(page, "execution_id")
    amc_execution_id = metadata_value(page, "amc_execution_id")
    expect(execution_id).to_have_text(str(row.execution_id))
    expect(amc_execution_id).to_have_text(row.amc_execution_id)
    assert execution_id.inner_text().strip() == str(row.execution_id)
    assert amc_execution_id.inner_text().strip() == row.amc_execution_id
    expect(metadata_value(page, "dagster/row_count")).to_have_text(str(row.record_count))
    expect(metadata_value(page, "week_start_date")).to_have_text(OPENED_WEEK.isoformat())
    shot(page, artifacts_dir, "04-week-metadata")


def test_failed_week_shows_amc_reason_and_what_to_do(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    row = prepared.warehouse.get_week(REPORT, FAILED_WEEK)
    page.goto(stack.webserver_url + "/runs")
    page.get_by_role("tab", name="Failed").click()
    page.get_by_role("link", name=prepared.failed_backfill_id).click()
    expect(page.get_by_text(FAILED_WEEK.isoformat()).first).to_be_visible()
    page.get_by_role("tab", name="Runs").click()
    page.get_by_role("link", name=row.dagster_run_id[:8]).first.click()
    expect(page).to_have_url(re.compile(row.dagster_run_id))
    message = page.get_by_text(re.compile(re.escape(FAILURE_REASON))).filter(visible=True).first
    expect(message).to_be_visible()
    expect(message).to_contain_text("materialize the week again")
    expect(message).to_contain_text(row.amc_execution_id)
    message.scroll_into_view_if_needed()
    shot(page, artifacts_dir, "05-failed-week-run")


def test_row_count_plot_across_weeks(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    # What the plot draws: each week's latest dagster/row_count.
    counts = {}
    for record in sorted(stack.materializations(ASSET_PATH), key=lambda m: m["timestamp"]):
        for entry in record["metadataEntries"]:
            if entry["label"] == "dagster/row_count":
                counts[record["partition"]] = entry["intValue"]
    assert counts == {week.isoformat(): ROWS for week in GOOD_WEEKS}

    open_asset(page, stack)
    page.get_by_role("button", name="Plots").click()
    plot = plot_card(page, "dagster/row_count")
    canvas = plot.locator("canvas")
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()
    wait_until_drawn(page, canvas)
    shot(page, artifacts_dir, "06-row-count-plot")


def plot_card(page: Page, label: str) -> Locator:
    """The smallest element holding a plot's title and its canvas."""
    title = page.get_by_text(label, exact=True)
    return page.locator("div").filter(has=title).filter(has=page.locator("canvas")).last


def wait_until_drawn(page: Page, canvas: Locator) -> None:
    page.wait_for_function(
        """canvas => {
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
            return data.data.some(value => value !== 0);
        }""",
        arg=canvas.element_handle(),
    )


def test_check_results_of_the_week(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    row = prepared.warehouse.get_week(REPORT, OPENED_WEEK)
    # The description each check gives a passing week.
    passed = {
        "lineage_complete": re.compile(
            "Week row, workflow_executions and materialization agree on execution "
            + re.escape(str(row.execution_id))
        ),
        "row_counts_consistent": re.compile(
            re.escape(f"{ROWS} rows stored, all from execution {row.execution_id}.")
        ),
        "schema_stable": re.compile(
            r"Same 4 columns as week \d{4}-\d{2}-\d{2}\.|First completed week"
        ),
        "not_empty": re.compile(f"^{ROWS} rows\\.$"),
    }
    assert set(passed) == set(WEEKLY_CHECKS)
    open_asset(page, stack)
    page.get_by_role("tab", name="Checks", exact=True).click()
    for number, check in enumerate(WEEKLY_CHECKS):
        page.get_by_title(check, exact=True).first.click()
        # The check's own Partitions tab (a button), not the asset's (a link).
        page.locator("button[role=tab]", has_text="Partitions").click()
        select_partition(page, "Filter by partition", OPENED_WEEK)
        expect(page.get_by_text(passed[check]).first).to_be_visible()
        shot(page, artifacts_dir, f"07{'abcd'[number]}-check-{check}")


def test_backfill_three_weeks_from_the_materialize_dialog(
    page: Page, stack: Stack, prepared: Prepared, artifacts_dir: Path
):
    stack.set_sandbox_config({**SANDBOX, "rows": UI_ROWS})
    open_asset(page, stack)
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    launch = dialog.get_by_role("button", name="Launch backfill")
    # With many weeks the dialog first offers only the last 90 days: ask for all of them.
    show_all = dialog.get_by_text("Show all partitions")
    selection = dialog.get_by_placeholder(re.compile(r"^ex: "))
    expect(show_all.or_(selection).first).to_be_visible()
    if show_all.is_visible():
        show_all.click()
    selection.fill(f"[{UI_WEEKS[0].isoformat()}...{UI_WEEKS[-1].isoformat()}]")
    selection.press("Enter")
    expect(dialog.get_by_text(f"{len(UI_WEEKS)} partitions", exact=True)).to_be_visible()
    shot(page, artifacts_dir, "08-materialize-dialog")

    launch.click()
    toast = page.get_by_role("listitem").filter(has_text="Created backfill")
    expect(toast).to_be_visible()
    backfill_id = re.search(r"Created backfill\s+(\w+)", toast.inner_text()).group(1)
    toast.get_by_role("link", name="View").click()
    expect(page).to_have_url(re.compile(f"/runs/b/{backfill_id}"))
    selected = re.compile(f"{UI_WEEKS[0].isoformat()}(\\.\\.\\.|…){UI_WEEKS[-1].isoformat()}")
    expect(page.get_by_text(selected).first).to_be_visible()
    shot(page, artifacts_dir, "09-backfill-launched")

    # Done according to Dagster (GraphQL) and to the warehouse, within a deadline...
    backfill = stack.wait_backfill(backfill_id, timeout=420)
    assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), backfill
    assert backfill["numPartitions"] == len(UI_WEEKS)
    assert sorted(run["status"] for run in backfill["runs"]) == ["SUCCESS"] * len(UI_WEEKS)
    for week in UI_WEEKS:
        row = prepared.warehouse.get_week(REPORT, week)
        assert row.status == "completed" and row.record_count == UI_ROWS, row
        collection = prepared.warehouse.get_collection(row.collection_id)
        assert (collection.collection_type, collection.backfill_id) == ("backfill", backfill_id)

    # ... and on the backfill's page, which refreshes itself.
    status = page.get_by_text("Succeeded", exact=True).and_(page.locator("span"))
    expect(status).to_be_visible()
    expect(page.get_by_text("100% completed")).to_be_visible()
    shot(page, artifacts_dir, "10-backfill-succeeded")

    page.get_by_role("link", name="Runs", exact=True).first.click()
    page.get_by_role("tab", name="Backfills").click()
    expect(page.get_by_role("link", name=backfill_id)).to_be_visible()
    shot(page, artifacts_dir, "11-backfills")

    # The asset now shows the new weeks, and their row counts in the plot.
    open_asset(page, stack)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    expect(page.get_by_text(f"Materialized ({len(GOOD_WEEKS) + len(UI_WEEKS)})")).to_be_visible()
    page.get_by_role("tab", name="Overview", exact=True).click()
    page.get_by_role("button", name="Plots").click()
    canvas = plot_card(page, "dagster/row_count").locator("canvas")
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()
    wait_until_drawn(page, canvas)
    shot(page, artifacts_dir, "12-row-count-plot-after-backfill")
