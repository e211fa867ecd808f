"""Production loads the definitions without the local stand-ins: nothing of `amc_reports.local`,
DuckDB, pgserver (the `local` extra) is imported. The installed proof without the extra is the
Docker image of `make test-deploy`; this is the fast one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from amc_reports.paths import PROJECT_ROOT

STAND_INS = ("amc_reports.local", "amc_reports.orchestration.local_resources", "duckdb", "pgserver")

PROBE = """
import json, sys
import amc_reports.definitions as d
assert d.defs.resources["amc"].__class__.__name__ == "LiveAmcResource", d.defs.resources
print(json.dumps(sorted(sys.modules)))
"""


def test_production_definitions_import_nothing_local():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")}
    env.update(
        AMC_REPORTS_ENV="production",
        AMC_CLIENT_ID="amzn1.application-oa2-client.fake",
        AMC_CLIENT_SECRET="fake-secret",
        AMC_REFRESH_TOKEN="Atzr|fake",
        # Nothing listens there: loading the definitions connects to nothing.
        AMC_REPORTS_DATABASE_URL="postgresql://amc:pw@127.0.0.1:1/amc",
        AMC_REPORTS_CONFIG=str(PROJECT_ROOT / "reports.yaml"),
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert "amc_reports.definitions" in modules
    local = [m for m in modules if m.split(".")[0] in STAND_INS or m.startswith(STAND_INS)]
    assert local == []


def test_production_refusal_stops_the_code_location_from_loading():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")}
    env.update(AMC_REPORTS_ENV="production", AMC_CLIENT_ID="amzn1.fake")
    done = subprocess.run(
        [sys.executable, "-c", "import amc_reports.definitions"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "AMC_REPORTS_ENV=production, but these variables are not set:" in done.stderr
    assert "  - AMC_REPORTS_DATABASE_URL (the warehouse's Postgres)" in done.stderr
    assert "  - AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN (credential profile 'default')" in done.stderr
    assert "amzn1.fake" not in done.stderr


def test_a_command_that_needs_the_local_extra_says_how_to_install_it():
    # A production install: the `local` extra's modules cannot be imported.
    probe = (
        "import sys\n"
        "for name in ('duckdb', 'pgserver'):\n"
        "    sys.modules[name] = None\n"
        "from amc_reports.cli import main\n"
        "sys.exit(main(['check-sql', '--all']))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")}
    env["AMC_REPORTS_CONFIG"] = str(PROJECT_ROOT / "reports.yaml")
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip() == (
        "error: `amc-reports check-sql` needs the local stand-ins (the AMC sandbox, the embedded "
        "PostgreSQL), which this install lacks (no module 'duckdb'): install them with pip "
        "install 'amc_reports[local]'."
    )
