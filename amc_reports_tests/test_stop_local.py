"""`amc-reports stop-local` stops the background sandbox and embedded PostgreSQL it finds."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests

from amc_reports.local.sandbox import ensure_sandbox
from amc_reports_tests.fixtures_postgres import server_temp_dir

CLI = [sys.executable, "-m", "amc_reports.cli"]


def test_stop_local_stops_both_services(tmp_path):
    home = server_temp_dir("amc_reports_home_")  # pgserver data must live outside pytest's tmp
    env = {**os.environ, "AMC_REPORTS_HOME": str(home)}
    env.pop("AMC_REPORTS_DATABASE_URL", None)
    base_url = ensure_sandbox(port=0, state_dir=Path(home) / "sandbox")
    assert requests.get(f"{base_url}/_sandbox/health", timeout=10).ok
    started = subprocess.run([*CLI, "postgres", "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr

    stopped = subprocess.run([*CLI, "stop-local"], env=env, capture_output=True, text=True)
    assert stopped.returncode == 0, stopped.stderr
    assert "AMC sandbox: stopped" in stopped.stdout
    assert "embedded PostgreSQL: stopped" in stopped.stdout
    try:
        requests.get(f"{base_url}/_sandbox/health", timeout=5)
        raise AssertionError("the sandbox still answers")
    except requests.ConnectionError:
        pass
    again = subprocess.run([*CLI, "stop-local"], env=env, capture_output=True, text=True)
    assert "not running" in again.stdout
    shutil.rmtree(home, ignore_errors=True)
