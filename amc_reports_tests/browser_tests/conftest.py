"""Browser tests: Playwright (sync API) driving Debian's chromium against a live stack.

`make test-browser` installs what they need (the `browser` extra, Debian's `chromium`) and sets
AMC_REPORTS_BROWSER_TESTS=1. Without it (a plain `pytest`, `make test`) nothing here is collected,
so the rest of the suite needs neither Playwright nor a browser.

Environment:
- AMC_REPORTS_BROWSER_TESTS: set to run these tests.
- AMC_REPORTS_BROWSER_ARTIFACTS: where screenshots go (default `test-artifacts/browser/`).
- AMC_REPORTS_README_SCREENS: where the screens the README shows are written (`make test-browser
  README_SCREENS=docs/screens` retakes them); default `readme/` among the artifacts.
- AMC_REPORTS_CHROMIUM: the browser binary (default `/usr/bin/chromium`; Playwright's own browser
  downloads are not used).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from amc_reports.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

BROWSER_TESTS_ENV = "AMC_REPORTS_BROWSER_TESTS"

if not os.environ.get(BROWSER_TESTS_ENV, "").strip():
    collect_ignore_glob = ["test_*.py"]

CHROMIUM = os.environ.get("AMC_REPORTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough for an asset check's partition page without a horizontal scroll.
VIEWPORT = {"width": 1440, "height": 900}
# The machine is small and shared: generous waits, never fixed sleeps.
ACTION_TIMEOUT_MS = 90_000
NAVIGATION_TIMEOUT_MS = 120_000


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    configured = os.environ.get("AMC_REPORTS_BROWSER_ARTIFACTS", "").strip()
    path = Path(configured) if configured else PROJECT_ROOT / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Screens:
    """Where a test's screenshots go: every step's in the artifacts, numbered; the few the README
    shows also under their README name."""

    artifacts: Path
    readme: Path

    def take(self, page: Page, name: str, readme: str | None = None) -> None:
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path))
        if readme is not None:
            shutil.copyfile(path, self.readme / f"{readme}.png")


@pytest.fixture(scope="session")
def screens(artifacts_dir: Path) -> Screens:
    configured = os.environ.get("AMC_REPORTS_README_SCREENS", "").strip()
    readme = Path(configured) if configured else artifacts_dir / "readme"
    readme.mkdir(parents=True, exist_ok=True)
    return Screens(artifacts_dir, readme)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile for the module (no Playwright-downloaded browser)."""
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test-browser` installs Debian's chromium")
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            # Dates in the UI as the screenshots in the README show them.
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser_context: BrowserContext, artifacts_dir: Path, request) -> Iterator[Page]:
    """A new tab per test; on failure its screenshot is saved as `FAILED-<test>.png`."""
    page = browser_context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            try:
                page.screenshot(path=str(artifacts_dir / f"FAILED-{name}.png"))
            except Exception as exc:  # the failure itself matters more than its picture
                print(f"could not take the failure screenshot: {exc}")
        page.close()
