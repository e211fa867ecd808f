"""The Dagster UI as a person uses it, on a live deployment (Postgres, sandbox, gRPC, webserver,
daemon: `support.stack.Stack`) with two example reports: one offering final weeks only
(the default), one collecting provisional weeks (`provisional_weeks: collect`).

Before the browser opens, the deployment collects a few weeks through GraphQL backfills, one of
them failing in AMC, and the week that just ended of the provisional report; each collected week's
6 weekly checks then run in check runs of their own (the `amc_weekly_checks` sensor), awaited with
a deadline. Then, in Chromium: the report in the catalog and its asset page, its weekly partitions
(materialized and failed), one week's metadata with the lineage ids (compared with the warehouse),
the failed week's run and its message, the row-count plot, the week's check results, the
provisional week marked as such (its metadata, its `weeks` table and its `week_is_final`
warning), a week materialized from the UI with its checks that fails in AMC (no check failed or
"Execution failed", the failure on the week's partition), "Execute all" on the Checks tab, a
backfill of 3 weeks launched from the UI's own Materialize dialog, watched until it ends, the
dialog's **Latest**, which picks the newest final week, and the weekly checks' job, where chosen
weeks are re-checked.

Every step saves a screenshot in `test-artifacts/browser/` (numbered in the order above); the
README's screens are written under their README names too (`make test-browser
README_SCREENS=docs/screens` retakes them).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Locator, Page, expect

from amc_reports.config import load_config
from amc_reports.warehouse import Warehouse
from amc_reports.weeks import WeekWindow, newest_final_week, newest_offered_week
from amc_reports_tests.fixtures_postgres import server_temp_dir
from amc_reports_tests.support.stack import Stack, wait_for

if TYPE_CHECKING:
    from amc_reports_tests.browser_tests.conftest import Screens

# The first test also starts the deployment and collects the weeks (module fixtures): their own
# waits decide, each saying what it waited for, not pytest's default timeout.
pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(1800)]

INSTANCE_ID = "amcbrowser01"
REPORT = "campaign_performance"
ASSET_PATH = ["amc", "us", REPORT]
ASSET_URL = "/assets/" + "/".join(ASSET_PATH)
# The same numbers, collected as soon as a week ends (provisional until it is final).
EARLY_REPORT = "campaign_pulse"
EARLY_ASSET_PATH = ["amc", "us", EARLY_REPORT]
EARLY_ASSET_URL = "/assets/" + "/".join(EARLY_ASSET_PATH)
DESCRIPTION = "Impressions, clicks and spend per sponsored-ads campaign and week."
OWNER = "marketing-analytics"

FAILED_WEEK = date(2026, 3, 1)  # AMC ends its execution FAILED
GOOD_WEEKS = [date(2026, 3, 8) + timedelta(weeks=i) for i in range(4)]
OPENED_WEEK = GOOD_WEEKS[1]  # the week whose metadata and checks are read in the UI
UI_WEEKS = [date(2026, 4, 5) + timedelta(weeks=i) for i in range(3)]  # backfilled from the UI
UI_FAILED_WEEK = date(2026, 5, 3)  # materialized from the UI with its checks; fails in AMC
ROWS, UI_ROWS = 30, 45  # rows per week before and in the UI's backfill: the plot shows both
FAILURE_REASON = "Query exceeded resource limits"
SANDBOX = {"latency_seconds": 2, "rows": ROWS, "max_running": 10}
WEEKLY_CHECKS = (
    "lineage_complete",
    "row_counts_consistent",
    "schema_stable",
    "not_empty",
    "week_is_final",
    "restatement_within_tolerance",
)
LAG_DAYS = 14

SQL = """
      SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
             SUM(total_cost) AS spend
      FROM sponsored_ads_traffic
      GROUP BY campaign_id"""


def report_yaml(name: str, description: str, policy: str) -> str:
    return f"""
  {name}:
    instance: us
    sql: |{SQL}
    start_date: {FAILED_WEEK.isoformat()}
    week_starts_on: sunday
    timezone: America/New_York
    lag_days: {LAG_DAYS}
    provisional_weeks: {policy}
    description: {description}
    owners: [team:{OWNER}]
    schedule: false"""


EARLY_DESCRIPTION = "The same campaign numbers, each week collected as soon as it ends."
REPORTS_YAML = (
    f"""
instances:
  us:
    instance_id: {INSTANCE_ID}
    advertiser_id: ENTITYBROWSER
    marketplace_id: ATVPDKIKX0DER
    region: NA
    description: US advertiser instance (the AMC sandbox in this test)
reports:"""
    + report_yaml(REPORT, DESCRIPTION, "skip")
    + report_yaml(EARLY_REPORT, EARLY_DESCRIPTION, "collect")
    + "\n"
)


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
    provisional_week: date  # of EARLY_REPORT: the week that had just ended, collected before final


def newest_week(stack: Stack, report_name: str, now: datetime) -> date:
    """The newest week `report_name` offers at `now`, by weeks.py's rule: its newest final week,
    or for a report collecting provisional weeks, the week that just ended."""
    report = load_config(stack.reports_config).reports[report_name]
    rule = {
        "week_start_weekday": report.week_start_weekday,
        "time_zone": report.timezone,
        "lag_days": report.lag_days,
    }
    if report.provisional_weeks == "collect":
        return newest_offered_week(now, collects_provisional=True, **rule)
    return newest_final_week(now, **rule)


@pytest.fixture(scope="module")
def prepared(stack: Stack) -> Prepared:
    """One week failed in AMC, four weeks collected, and the provisional report's week that just
    ended (all through GraphQL backfills); then every collected week's weekly checks."""
    warehouse = Warehouse(stack.warehouse_url)
    # The checks sensor starts from its first tick: weeks materialized before it are not its own.
    stack.wait_sensor_ticked("amc_weekly_checks")
    stack.set_sandbox_config(
        {**SANDBOX, "instances": {INSTANCE_ID: {"fail_next": 1, "failure_reason": FAILURE_REASON}}}
    )
    # No run retry: the week stays failed (a retry would submit a new, succeeding execution).
    failed_id = stack.launch_backfill(
        [ASSET_PATH],
        FAILED_WEEK.isoformat(),
        FAILED_WEEK.isoformat(),
        tags={"dagster/max_retries": "0"},
    )
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
    provisional_week = newest_week(stack, EARLY_REPORT, datetime.now(UTC))
    early_id = stack.launch_backfill(
        [EARLY_ASSET_PATH], provisional_week.isoformat(), provisional_week.isoformat()
    )
    failed = stack.wait_backfill(failed_id, timeout=600)
    assert failed["status"] == "COMPLETED_FAILED", failed
    for done_id in (backfill_id, early_id):
        done = stack.wait_backfill(done_id, timeout=600)
        assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
    assert warehouse.get_week(REPORT, FAILED_WEEK).status == "failed"
    for week in GOOD_WEEKS:
        row = warehouse.get_week(REPORT, week)
        assert row.status == "completed" and not row.provisional, (week, row)
    early = warehouse.get_week(EARLY_REPORT, provisional_week)
    assert early.status == "completed" and early.provisional, early

    # Each collected week's checks run after it, in check runs of their own: wait for them all.
    collected = {
        tuple(ASSET_PATH): {week.isoformat() for week in GOOD_WEEKS},
        tuple(EARLY_ASSET_PATH): {provisional_week.isoformat()},
    }
    for path, weeks in collected.items():
        for check in WEEKLY_CHECKS:
            wait_for(
                lambda path=path, check=check, weeks=weeks: (
                    set(check_results(stack, list(path), check)) >= weeks
                ),
                f"check {check} of {'/'.join(path)} on weeks {sorted(weeks)}",
                timeout=420,
                interval=2.0,
            )
    # None of them ran on the failed week: its failure is the week's, not its checks'.
    assert FAILED_WEEK.isoformat() not in check_results(stack, ASSET_PATH, "lineage_complete")
    return Prepared(failed_id, backfill_id, warehouse, provisional_week)


def check_results(stack: Stack, asset_path: list[str], check: str) -> dict[str, dict]:
    """The latest finished evaluation of a weekly check, per week."""
    latest: dict[str, dict] = {}
    for execution in stack.check_executions(asset_path, check):  # newest first
        if execution["evaluation"] is not None:
            latest.setdefault(execution["partition"], execution["evaluation"])
    return latest


# -- helpers ---------------------------------------------------------------------------------------


def open_asset(page: Page, stack: Stack, url: str = ASSET_URL) -> None:
    page.goto(stack.webserver_url + url)
    expect(page.get_by_role("button", name="Materialize…")).to_be_visible()


def metadata_value(page: Page, label: str) -> Locator:
    """The value cell next to a metadata label in the shown table."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=label, exact=True))
    return row.get_by_role("cell").nth(1)


def select_partition(page: Page, placeholder: str, week: date) -> None:
    """Type the week in a partition list's filter box, then click it (the list is virtual; its
    items carry the week as their title, unlike the dates under the status bar)."""
    page.get_by_placeholder(placeholder).fill(week.isoformat())
    page.get_by_title(week.isoformat(), exact=True).filter(visible=True).first.click()


# -- the steps -------------------------------------------------------------------------------------


def test_catalog_and_asset_page_describe_the_report(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    page.goto(stack.webserver_url + "/assets")
    link = page.get_by_role("link", name=re.compile(REPORT))
    expect(link).to_be_visible()
    expect(page.get_by_text(DESCRIPTION).first).to_be_visible()
    # Each report's partition status loaded.
    expect(page.get_by_text(re.compile(r"^\d+ partitions$"))).to_have_count(2)
    screens.take(page, "01-catalog")

    link.click()
    expect(page).to_have_url(re.compile(re.escape(ASSET_URL) + r"(\?|$)"))
    expect(page.get_by_text(DESCRIPTION, exact=True)).to_be_visible()
    expect(page.get_by_text("sponsored_ads_traffic").first).to_be_visible()  # the SQL
    expect(page.get_by_text("amc_us", exact=True).first).to_be_visible()  # group
    expect(page.get_by_text(OWNER, exact=True).first).to_be_visible()
    screens.take(page, "02-asset-overview", readme="asset-overview")


def test_partitions_show_materialized_and_failed_weeks(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    open_asset(page, stack)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    expect(page.get_by_text(f"Materialized ({len(GOOD_WEEKS)})")).to_be_visible()
    expect(page.get_by_text("Failed (1)")).to_be_visible()
    screens.take(page, "03-partitions")


def test_week_metadata_carries_the_ids_of_its_warehouse_row(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
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
    screens.take(page, "04-week-metadata", readme="week-metadata")


def test_failed_week_shows_amc_reason_and_what_to_do(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
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
    screens.take(page, "05-failed-week-run", readme="failed-week")


def test_row_count_plot_across_weeks(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
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
    screens.take(page, "06-row-count-plot")


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


def test_check_results_of_the_week(page: Page, stack: Stack, prepared: Prepared, screens: Screens):
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
        "week_is_final": re.compile(re.escape("Final: collected after the week was final.")),
        "restatement_within_tolerance": re.compile(re.escape("Collected once: nothing restated.")),
    }
    assert set(passed) == set(WEEKLY_CHECKS)
    for check in WEEKLY_CHECKS:  # what the UI is about to show, as Dagster stored it
        result = check_results(stack, ASSET_PATH, check)[OPENED_WEEK.isoformat()]
        assert result["success"] and passed[check].search(result["description"]), (check, result)
    open_asset(page, stack)
    page.get_by_role("tab", name="Checks", exact=True).click()
    for number, check in enumerate(WEEKLY_CHECKS):
        page.get_by_title(check, exact=True).first.click()
        # The check's own Partitions tab (a button), not the asset's (a link).
        page.locator("button[role=tab]", has_text="Partitions").click()
        select_partition(page, "Filter by partition", OPENED_WEEK)
        expect(page.get_by_text(passed[check]).first).to_be_visible()
        readme = "week-checks" if number == 0 else None
        screens.take(page, f"07{'abcdef'[number]}-check-{check}", readme=readme)


def test_a_provisional_week_shows_as_provisional(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    week = prepared.provisional_week
    row = prepared.warehouse.get_week(EARLY_REPORT, week)
    assert row.provisional and row.final_at > datetime.now(UTC), row
    final_at = WeekWindow(week, "America/New_York").final_at(LAG_DAYS)
    assert row.final_at == final_at
    # The partition's metadata says so first.
    open_asset(page, stack, EARLY_ASSET_URL)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    select_partition(page, "Filter by name", week)
    expect(page).to_have_url(re.compile(f"partition={week.isoformat()}"))
    status = metadata_value(page, "week_status")
    expect(status).to_contain_text(
        f"PROVISIONAL: collected before the week is final ({final_at:%Y-%m-%d %H:%M}"
    )
    expect(metadata_value(page, "provisional")).to_have_text("true")
    expect(metadata_value(page, "execution_id")).to_have_text(str(row.execution_id))
    # The newest weeks, listed with their status and when each is final.
    weeks = metadata_value(page, "weeks")
    listed = weeks.get_by_role("row").filter(
        has=page.get_by_role("cell", name=week.isoformat(), exact=True)
    )
    expect(listed).to_contain_text("PROVISIONAL")
    expect(listed).to_contain_text(f"{final_at:%Y-%m-%d %H:%M}")
    weeks.scroll_into_view_if_needed()
    screens.take(page, "08-provisional-week", readme="provisional-week")

    # Its week_is_final check warns (a WARN, not an error), naming when the week is final.
    result = check_results(stack, EARLY_ASSET_PATH, "week_is_final")[week.isoformat()]
    assert (result["success"], result["severity"]) == (False, "WARN"), result
    page.get_by_role("tab", name="Checks", exact=True).click()
    page.get_by_title("week_is_final", exact=True).first.click()
    page.locator("button[role=tab]", has_text="Partitions").click()
    select_partition(page, "Filter by partition", week)
    expect(
        page.get_by_text(re.compile("^PROVISIONAL: collected before the week was final"))
    ).to_be_visible()
    screens.take(page, "09-provisional-week-check")


def latest_run(stack: Stack, started_after: float, partition: str | None) -> dict | None:
    """The newest run started after `started_after` for `partition` (None: without a week)."""
    for run in stack.runs():  # newest first
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        if (run["startTime"] or 0) >= started_after and tags.get("dagster/partition") == partition:
            return run
    return None


def test_a_week_failing_with_its_checks_fails_no_check(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    week = UI_FAILED_WEEK.isoformat()
    started = datetime.now(UTC).timestamp()
    stack.set_sandbox_config(
        {**SANDBOX, "instances": {INSTANCE_ID: {"fail_next": 1, "failure_reason": FAILURE_REASON}}}
    )
    # Materialize... -> one week -> Launch 1 run: the UI adds the asset's checks to the run.
    open_asset(page, stack)
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    show_all = dialog.get_by_text("Show all partitions")
    selection = dialog.get_by_placeholder(re.compile(r"^ex: "))
    expect(show_all.or_(selection).first).to_be_visible()
    if show_all.is_visible():
        show_all.click()
    selection.fill(week)
    selection.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch 1 run").click()
    run = wait_for(
        lambda: (
            (run := latest_run(stack, started, week))
            and run["status"] in ("SUCCESS", "FAILURE", "CANCELED")
            and run
        ),
        f"the run of week {week} launched from Materialize",
        timeout=420,
        interval=2.0,
    )
    stack.set_sandbox_config(SANDBOX)
    row = prepared.warehouse.get_week(REPORT, UI_FAILED_WEEK)
    assert run["status"] == "FAILURE" and row.status == "failed", (run, row)

    # The run planned every weekly check of the week; each ended "Not checked", none failed.
    for check in WEEKLY_CHECKS:
        planned = [e for e in stack.check_executions(ASSET_PATH, check) if e["partition"] == week]
        assert [e["status"] for e in planned] == ["SUCCEEDED"], (check, planned)
        assert planned[0]["evaluation"]["description"].startswith(f"Not checked: week {week}")
        # The weeks checked before keep their results.
        assert check_results(stack, ASSET_PATH, check)[OPENED_WEEK.isoformat()]["success"]
    page.get_by_role("tab", name="Checks", exact=True).click()
    expect(page.get_by_title("lineage_complete", exact=True).first).to_be_visible()
    expect(page.get_by_text("Execution failed")).to_have_count(0)
    screens.take(page, "16-checks-after-a-failed-week", readme="checks-after-failed-week")

    # The failure is on the week's partition: AMC's reason, both ids and what to do.
    open_asset(page, stack)
    page.get_by_role("tab", name="Partitions", exact=True).click()
    select_partition(page, "Filter by name", UI_FAILED_WEEK)
    expect(
        page.get_by_text(re.compile("failed, and did not materialize this asset"))
    ).to_be_visible()
    page.get_by_role("button", name=re.compile("View all historical events")).click()
    events = page.get_by_role("dialog")
    # The week's events, grouped under it: open the group to read the observation.
    events.get_by_text("Observation", exact=True).click()
    message = events.get_by_text(re.compile(re.escape(FAILURE_REASON))).first
    expect(message).to_be_visible()
    expect(events).to_contain_text(row.amc_execution_id)
    expect(events).to_contain_text(str(row.execution_id))
    expect(events).to_contain_text("query_error")
    expect(events).to_contain_text("materialize the week again")
    screens.take(page, "17-failed-week-partition", readme="failed-week-partition")


def test_execute_all_checks_the_newest_collected_week(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    newest = max(
        row.week_start_date for row in prepared.warehouse.list_weeks(REPORT) if row.is_completed
    ).isoformat()
    before = {
        check: len(
            [e for e in stack.check_executions(ASSET_PATH, check) if e["partition"] == newest]
        )
        for check in WEEKLY_CHECKS
    }
    started = datetime.now(UTC).timestamp()
    open_asset(page, stack)
    page.get_by_role("tab", name="Checks", exact=True).click()
    page.get_by_role("button", name="Execute all").click()
    run = wait_for(
        lambda: (
            (run := latest_run(stack, started, None))
            and run["status"] in ("SUCCESS", "FAILURE", "CANCELED")
            and run
        ),
        "the run of Execute all",
        timeout=420,
        interval=2.0,
    )
    assert run["status"] == "SUCCESS", run
    for check in WEEKLY_CHECKS:
        on_newest = [
            e for e in stack.check_executions(ASSET_PATH, check) if e["partition"] == newest
        ]
        assert len(on_newest) == before[check] + 1, (check, on_newest)
        assert on_newest[0]["evaluation"]["success"], (check, on_newest[0])
    page.reload()
    expect(page.get_by_title("lineage_complete", exact=True).first).to_be_visible()
    expect(page.get_by_text("Execution failed")).to_have_count(0)
    screens.take(page, "18-execute-all", readme="execute-all")


def test_backfill_three_weeks_from_the_materialize_dialog(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
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
    screens.take(page, "10-materialize-dialog", readme="backfill-dialog")

    launch.click()
    toast = page.get_by_role("listitem").filter(has_text="Created backfill")
    expect(toast).to_be_visible()
    backfill_id = re.search(r"Created backfill\s+(\w+)", toast.inner_text()).group(1)
    toast.get_by_role("link", name="View").click()
    expect(page).to_have_url(re.compile(f"/runs/b/{backfill_id}"))
    selected = re.compile(f"{UI_WEEKS[0].isoformat()}(\\.\\.\\.|…){UI_WEEKS[-1].isoformat()}")
    expect(page.get_by_text(selected).first).to_be_visible()
    screens.take(page, "11-backfill-launched")

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
    screens.take(page, "12-backfill-succeeded")

    page.get_by_role("link", name="Runs", exact=True).first.click()
    page.get_by_role("tab", name="Backfills").click()
    expect(page.get_by_role("link", name=backfill_id)).to_be_visible()
    screens.take(page, "13-backfills")

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
    screens.take(page, "14-row-count-plot-after-backfill", readme="row-count-plot")


def test_latest_in_the_materialize_dialog_picks_the_newest_final_week(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    now = datetime.now(UTC)
    latest = newest_week(stack, REPORT, now)  # today minus the lag, as weeks.py rules it
    window = WeekWindow(latest, "America/New_York")
    assert (
        window.final_at(LAG_DAYS)
        <= now
        < WeekWindow(latest + timedelta(weeks=1), window.time_zone).final_at(LAG_DAYS)
    )
    assert prepared.warehouse.get_week(REPORT, latest) is None  # not collected yet

    open_asset(page, stack)
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Latest", exact=True).click()
    expect(dialog.get_by_placeholder(re.compile(r"^ex: "))).to_have_value(latest.isoformat())
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_visible()
    screens.take(page, "15-latest-final-week", readme="latest-final-week")

    # Launched, it collects that week, as final.
    launch.click()
    row = wait_for(
        lambda: (
            (row := prepared.warehouse.get_week(REPORT, latest))
            and row.status in ("completed", "failed")
            and row
        ),
        f"week {latest} launched from Latest",
        timeout=420,
        interval=2.0,
    )
    assert row.status == "completed" and not row.provisional, row
    assert row.final_at == window.final_at(LAG_DAYS) <= row.updated_at, row


def test_chosen_weeks_can_be_rechecked_from_the_checks_job(
    page: Page, stack: Stack, prepared: Prepared, screens: Screens
):
    """The README's way to re-check chosen weeks: the weekly checks' job, its Partitions."""
    page.goto(stack.webserver_url + "/locations/amc_reports/jobs/amc_weekly_checks_1/partitions")
    expect(
        page.get_by_text(OPENED_WEEK.isoformat())
        .first.or_(page.get_by_role("button", name=re.compile("Launch backfill")))
        .first
    ).to_be_visible()
    launch = page.get_by_role("button", name=re.compile("Launch backfill"))
    expect(launch.first).to_be_visible()
    screens.take(page, "19-checks-job-partitions")
    launch.first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Launch amc_weekly_checks_1 backfill")).to_be_visible()
    # A week checked before counts as "Completed" for the job: include those.
    dialog.get_by_placeholder(re.compile(r"^ex: ")).fill(OPENED_WEEK.isoformat())
    dialog.get_by_placeholder(re.compile(r"^ex: ")).press("Enter")
    dialog.get_by_text(re.compile(r"^Completed \(\d+\)$")).click()
    expect(dialog.get_by_role("button", name=re.compile(r"Submit 1 run$"))).to_be_visible()
    screens.take(page, "20-checks-job-backfill-dialog", readme="recheck-weeks")
