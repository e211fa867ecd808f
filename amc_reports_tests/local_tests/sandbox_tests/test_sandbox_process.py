"""The sandbox as a process: state across restarts, ensure_sandbox under concurrency, CLI."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

from amc_reports.environment import build_amc_resource, resolved
from amc_reports.local.sandbox import cli as sandbox_cli
from amc_reports.local.sandbox import ensure_sandbox, sandbox_health, stop_sandbox
from amc_reports_tests.amc_tests.helpers import (
    INSTANCE,
    create,
    find_secrets,
    read_result,
    wait_terminal,
)
from amc_reports_tests.fixtures_sandbox import start_test_sandbox


def run_sandbox_server(state_dir) -> subprocess.CompletedProcess[str]:
    """Run the sandbox server in the foreground on `state_dir` (it is expected to refuse)."""
    return subprocess.run(
        [sys.executable, "-m", "amc_reports.local.sandbox", "--port", "0"]
        + ["--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_state_survives_a_restart(tmp_path):
    state_dir = tmp_path / "sandbox"
    box = start_test_sandbox(state_dir, {"latency_seconds": 0.3, "rows": 12})
    client = box.client()
    try:
        done = create(client)
        wait_terminal(client, INSTANCE, done.execution_id)
        before = read_result(client, INSTANCE, done.execution_id)
        client.create_workflow(INSTANCE, "kept", "SELECT a AS kept_col FROM t")
        box.set_config({"queue_seconds": 0.5, "run_seconds": 2.5})
        in_flight = create(client)
        port = int(box.base_url.rsplit(":", 1)[1])

        assert stop_sandbox(state_dir) is True
        assert sandbox_health(box.base_url) is None

        again = start_test_sandbox(state_dir, port=port)  # same address, same state dir
        assert again.base_url == box.base_url
        # Same client, same cached token: tokens survived the restart too.
        finished = wait_terminal(client, INSTANCE, in_flight.execution_id)
        assert finished.status == "SUCCEEDED"
        assert client.get_workflow(INSTANCE, "kept")["sqlQuery"] == "SELECT a AS kept_col FROM t"
        assert read_result(client, INSTANCE, done.execution_id) == before
        ids = [e["execution_id"] for e in again.executions()]
        assert ids == [done.execution_id, in_flight.execution_id]
        assert again.requests(path_contains="/auth/") == []  # no new token was needed
    finally:
        client.close()
        stop_sandbox(state_dir)

    # The state file holds token digests, never tokens; the log holds no secret.
    db = sqlite3.connect(state_dir / "sandbox.db")
    try:
        dumped = "\n".join(db.iterdump())
    finally:
        db.close()
    assert "Atza|" not in dumped and "amc-sandbox-secret" not in dumped
    assert find_secrets((state_dir / "sandbox.log").read_text()) == []


def _ensure(state_dir: str) -> tuple[str, int]:
    url = ensure_sandbox(port=0, state_dir=Path(state_dir), startup_timeout=60)
    return url, sandbox_health(url)["pid"]


def test_concurrent_ensure_starts_one_sandbox(tmp_path):
    state_dir = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=3, mp_context=ctx) as pool:
            results = list(pool.map(_ensure, [str(state_dir)] * 3))
        assert len(set(results)) == 1, results
        url, pid = results[0]
        # A later caller finds it again (health check), without starting anything.
        assert ensure_sandbox(port=0, state_dir=state_dir) == url
        assert sandbox_health(url)["pid"] == pid
        # The server refuses a second server on the same state dir.
        proc = run_sandbox_server(state_dir)
        assert proc.returncode == 3
        assert "already serves" in proc.stderr
    finally:
        assert stop_sandbox(state_dir) is True
    assert stop_sandbox(state_dir) is False


def test_the_product_uses_the_sandbox_at_the_env_url(sandbox_env, tmp_path, monkeypatch):
    monkeypatch.setenv("AMC_REPORTS_HOME", str(tmp_path / "home"))
    resource = resolved(build_amc_resource())  # what the definitions and commands build
    assert resource.base_url() == sandbox_env.base_url
    unused = tmp_path / "unused"
    assert ensure_sandbox(state_dir=unused, url=sandbox_env.base_url) == sandbox_env.base_url
    assert not (unused / "sandbox.log").exists()
    assert not (tmp_path / "home" / "sandbox" / "sandbox.log").exists()


def test_cli_registers_the_sandbox_subcommand(tmp_path):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox_cli.register(sub, default_state_dir=tmp_path / "default")
    args = parser.parse_args(
        [
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "9999",
            "--state-dir",
            str(tmp_path),
            "--config",
            str(tmp_path / "c.yaml"),
            "--latency",
            "0.5",
            "--rows",
            "7",
        ]
    )
    assert args.func is sandbox_cli.handler
    assert (args.port, args.latency, args.rows) == (9999, 0.5, 7)
    assert args.state_dir == tmp_path


def test_bad_config_file_stops_startup_with_a_clear_message(tmp_path):
    (tmp_path / "sandbox.yaml").write_text("latency_seconds: -1\n")
    proc = run_sandbox_server(tmp_path)
    assert proc.returncode == 2
    assert "latency_seconds" in proc.stderr and "sandbox.yaml" in proc.stderr


def test_admin_endpoints(sandbox, amc_client):
    create(amc_client)
    base = sandbox.base_url + "/_sandbox"
    assert requests.get(f"{base}/health", timeout=10).json()["status"] == "ok"
    assert requests.get(f"{base}/executions", timeout=10).json()["count"] == 1
    stats = requests.get(f"{base}/stats", timeout=10).json()
    assert stats["executions_total"] == 1 and INSTANCE in stats["max_in_flight_per_instance"]
    config = requests.get(f"{base}/config", timeout=10).json()
    assert config["base"]["latency_seconds"] == 0.3 and "defaults" in config
    assert requests.get(sandbox.base_url + "/nope", timeout=10).status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_projects_on_one_machine_get_two_sandboxes(tmp_path):
    """Each checkout's sandbox serves its own state folder: a second project does not adopt the
    first one's sandbox (and its faults) on the usual port, but starts its own on a free one."""
    usual = _free_port()  # stands in for 8765, which other work on this machine may hold
    first, second = tmp_path / "a" / "sandbox", tmp_path / "b" / "sandbox"
    second.mkdir(parents=True)
    try:
        url_a = ensure_sandbox(state_dir=first, preferred_port=usual)
        assert urlsplit(url_a).port == usual  # the usual port, while it is free
        # a stale runtime file of the second project pointing at the first one's address
        (second / "sandbox.json").write_text(json.dumps({"url": url_a, "port": usual, "pid": 1}))
        url_b = ensure_sandbox(state_dir=second, preferred_port=usual)
        assert url_b != url_a
        assert sandbox_health(url_a)["state_dir"] == str(first.resolve())
        assert sandbox_health(url_b)["state_dir"] == str(second.resolve())
        # each project finds its own again
        assert ensure_sandbox(state_dir=first, preferred_port=usual) == url_a
        assert ensure_sandbox(state_dir=second, preferred_port=usual) == url_b
        # faults injected into one do not reach the other
        armed = requests.put(f"{url_a}/_sandbox/config", json={"error_rate": 1}, timeout=10)
        assert armed.ok
        config_b = requests.get(f"{url_b}/_sandbox/config", timeout=10).json()
        assert config_b["effective"].get("error_rate") is None
        # an address asked for explicitly is used, whoever's sandbox answers there
        assert ensure_sandbox(port=usual, state_dir=second) == url_a
    finally:
        stop_sandbox(first)
        stop_sandbox(second)
