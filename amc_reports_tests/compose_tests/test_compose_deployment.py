"""The Compose deployment, really run: the image built on a Debian base by the test's own Docker
daemon, deploy/docker-compose.yml brought up on the host network (see host_compose), in
production against AMC played by the sandbox on the host (its documented credentials used as the
live ones), one week materialized through the webserver's GraphQL with the Docker run launcher.
Checked: the week row in the warehouse, the materialization's ids, the run's compute logs.
Everything (containers, volumes, the daemon) is removed at the end, also on failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from amc_reports.local.sandbox import sandbox_credentials, stop_sandbox
from amc_reports.local.sandbox.constants import TOKEN_PATH
from amc_reports.paths import PROJECT_ROOT
from amc_reports.warehouse import Warehouse
from amc_reports_tests.compose_tests.docker_host import (
    CommandFailed,
    DockerDaemon,
    debian_base_tar,
    run,
    serve_directory,
    wheelhouse,
)
from amc_reports_tests.compose_tests.host_compose import (
    Ports,
    host_network_compose,
    host_network_instance,
    workspace_for,
)
from amc_reports_tests.fixtures_sandbox import SandboxHandle, start_test_sandbox
from amc_reports_tests.support.compose_file import env_example
from amc_reports_tests.support.stack import (
    BACKFILL_DONE,
    WebserverGraphQL,
    free_port,
    wait_for,
)

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(2400)]

BASE_IMAGE = "amc-reports-test-base:bookworm"
PROJECT = "amc_reports_test"
REPORT = "weekly_campaign_performance"
ASSET_PATH = ["amc", "us", REPORT]
WEEK = date(2026, 3, 1)
CACHE = Path(
    os.environ.get("AMC_REPORTS_DEPLOY_CACHE") or PROJECT_ROOT / ".amc_reports/test-deploy"
)
ARTIFACTS = Path(
    os.environ.get("AMC_REPORTS_DEPLOY_ARTIFACTS") or PROJECT_ROOT / "test-artifacts/deploy"
)


def phase(name: str, started: float) -> None:
    print(f"test-deploy: {name} at {time.monotonic() - started:.0f} s", file=sys.stderr)


@dataclass
class Deployment(WebserverGraphQL):
    ports: Ports
    sandbox: SandboxHandle
    env: dict[str, str]
    daemon: DockerDaemon
    compose_file: Path

    @property
    def webserver_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.webserver}"

    @property
    def warehouse_url(self) -> str:
        env = self.env
        return (
            f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
            f"@127.0.0.1:{self.ports.postgres}/{env['WAREHOUSE_DB']}"
        )

    def compose(self, *args: str, what: str, timeout: float = 300) -> str:
        argv = ["docker-compose", "-p", PROJECT, "-f", str(self.compose_file), *args]
        return run(argv, what=what, timeout=timeout, env=self.daemon.env)


def deployment_env(sandbox: SandboxHandle, ports: Ports) -> dict[str, str]:
    """deploy/.env as a user fills it in, with the sandbox's documented credentials as the live
    ones and its address as AMC's."""
    credentials = sandbox_credentials("default")
    return {
        **env_example(),
        "POSTGRES_PASSWORD": secrets.token_hex(12),
        "AMC_CLIENT_ID": credentials.client_id,
        "AMC_CLIENT_SECRET": credentials.client_secret,
        "AMC_REFRESH_TOKEN": credentials.refresh_token,
        "AMC_API_BASE_URL": sandbox.base_url,
        "AMC_TOKEN_URL": sandbox.base_url + TOKEN_PATH,
        "AMC_REPORTS_UI_URL": f"http://127.0.0.1:{ports.webserver}",
    }


def save_logs(deployment: Deployment) -> None:
    """Each service's output and the Docker daemon's log, for a failure's reader."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        logs = deployment.compose("logs", "--no-color", what="docker-compose logs", timeout=120)
        (ARTIFACTS / "services.log").write_text(logs)
    except CommandFailed as exc:
        (ARTIFACTS / "services.log").write_text(str(exc))
    (ARTIFACTS / "dockerd.log").write_text(deployment.daemon.log_tail(200_000))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    started = time.monotonic()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    base_tar = debian_base_tar(CACHE)
    phase("Debian base ready", started)
    wheels = wheelhouse(CACHE, PROJECT_ROOT)
    phase("wheelhouse ready", started)
    # Short paths: dockerd's and containerd's sockets live under this folder.
    root = Path(tempfile.mkdtemp(prefix="amc-deploy-", dir="/tmp"))
    daemon = DockerDaemon(root)
    sandbox_dir = tmp_path_factory.mktemp("sandbox")
    sandbox: SandboxHandle | None = None
    deployment: Deployment | None = None
    try:
        daemon.start()
        phase("dockerd up", started)
        daemon.docker("import", str(base_tar), BASE_IMAGE, what="docker import", timeout=600)
        phase("base image imported", started)
        with serve_directory(wheels) as wheel_url:
            daemon.docker(
                "build",
                "--network=host",
                f"--build-arg=BASE_IMAGE={BASE_IMAGE}",
                f"--build-arg=PIP_INSTALL_OPTIONS=--no-index --no-compile --find-links {wheel_url}",
                "-t",
                "amc_reports:latest",
                str(PROJECT_ROOT),
                what="docker build of the product image",
                timeout=1200,
            )
        phase("product image built", started)
        sandbox = start_test_sandbox(sandbox_dir)
        ports = Ports(postgres=free_port(), code_server=free_port(), webserver=free_port())
        env = deployment_env(sandbox, ports)
        env_file = root / "deploy.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        workspace = root / "workspace.yaml"
        workspace.write_text(yaml.safe_dump(workspace_for(ports.code_server)))
        instance = root / "dagster.yaml"
        instance.write_text(yaml.safe_dump(host_network_instance()))
        compose_file = root / "docker-compose.yml"
        compose = host_network_compose(
            env,
            ports=ports,
            base_image=BASE_IMAGE,
            env_file=env_file,
            workspace=workspace,
            instance=instance,
            docker_socket=daemon.socket,
        )
        compose_file.write_text(yaml.safe_dump(compose, sort_keys=False))
        deployment = Deployment(ports, sandbox, env, daemon, compose_file)
        deployment.compose("up", "-d", what="docker-compose up", timeout=600)
        phase("services started", started)
        yield deployment
    finally:
        if deployment is not None:
            save_logs(deployment)
            try:
                # Runs still going (the weekly checks' sensor starts one after the week) first:
                # their containers hold the compute logs' volume.
                runs = daemon.docker(
                    "ps", "-aq", "--filter", "label=dagster/run_id", what="docker ps", timeout=60
                ).split()
                if runs:
                    daemon.docker("rm", "-f", *runs, what="docker rm of runs", timeout=120)
                deployment.compose("down", "-v", "--remove-orphans", what="down", timeout=300)
            except CommandFailed as exc:
                print(f"test-deploy: {exc}", file=sys.stderr)
        if sandbox is not None:
            sandbox.close()
            stop_sandbox(sandbox_dir)
        daemon.stop()
        phase("containers and dockerd stopped", started)
        shutil.rmtree(root, ignore_errors=True)
        phase("torn down", started)


WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

RUN_LOGS = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level }
        ... on LogsCapturedEvent { fileKey stepKeys }
      }
    }
  }
}
"""

RUN_TAGS = """
query RunTags($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status tags { key value } } }
}
"""

CAPTURED_LOGS = """
query CapturedLogs($logKey: [String!]!) {
  capturedLogs(logKey: $logKey) { stdout stderr }
}
"""


def fail_if_a_service_ended(deployment: Deployment) -> None:
    """Services run until torn down (init_pools ends, successfully): one that exited fails the
    test with its output."""
    listed = deployment.daemon.docker(
        "ps",
        "-a",
        "--filter",
        f"label=com.docker.compose.project={PROJECT}",
        "--format",
        "{{.Names}}\t{{.Status}}",
        what="docker ps",
        timeout=60,
    )
    ended = [
        name
        for name, status in (line.split("\t", 1) for line in listed.splitlines() if line)
        if status.startswith("Exited") and not ("init_pools" in name and "(0)" in status)
    ]
    if ended:
        logs = deployment.daemon.docker(
            "logs", "--tail", "40", ended[0], what="docker logs", timeout=60, with_stderr=True
        )
        pytest.fail(f"services exited: {ended}; the output of {ended[0]}:\n{logs}")


def loaded_location(deployment: Deployment) -> bool:
    fail_if_a_service_ended(deployment)
    data = deployment.graphql(WORKSPACE)["workspaceOrError"]
    assert data["__typename"] == "Workspace", data
    [entry] = data["locationEntries"]
    loaded = entry["locationOrLoadError"]
    if loaded and loaded["__typename"] == "PythonError":
        pytest.fail(f"the code location failed to load: {loaded['message']}")
    return entry["loadStatus"] == "LOADED" and loaded is not None


def run_errors(deployment: Deployment, run_id: str) -> list[str]:
    data = deployment.graphql(RUN_LOGS, {"runId": run_id})["logsForRun"]
    return [e["message"] for e in data.get("events", []) if e.get("level") == "ERROR"]


def metadata_of(entries: list[dict[str, Any]]) -> dict[str, Any]:
    values = ("text", "intValue", "floatValue")
    return {e["label"]: next((e[v] for v in values if v in e), None) for e in entries}


def test_one_week_through_the_compose_deployment(deployment: Deployment):
    started = time.monotonic()
    wait_for(
        lambda: loaded_location(deployment),
        "the webserver to load the code location",
        timeout=600,
        interval=2,
    )
    phase("code location loaded", started)
    backfill_id = deployment.launch_backfill([ASSET_PATH], WEEK.isoformat(), WEEK.isoformat())

    def finished() -> dict[str, Any] | None:
        fail_if_a_service_ended(deployment)
        backfill = deployment.backfill(backfill_id)
        return backfill if backfill["status"] in BACKFILL_DONE else None

    backfill = wait_for(finished, "the backfill of one week", timeout=900, interval=3)
    phase("backfill ended", started)
    [run] = backfill["runs"]
    assert run["status"] == "SUCCESS", (run, run_errors(deployment, run["runId"]))

    # The run ran in its own container, started by the Docker run launcher.
    tags = deployment.graphql(RUN_TAGS, {"runId": run["runId"]})["runOrError"]["tags"]
    tags = {tag["key"]: tag["value"] for tag in tags}
    assert tags.get("docker/container_id"), tags
    assert tags.get("dagster/image") == "amc_reports:latest", tags

    # The week row, with both ids, and the materialization recording the same ones.
    row = Warehouse(deployment.warehouse_url).get_week(REPORT, WEEK)
    assert row is not None and row.status == "completed", row
    assert row.execution_id and row.amc_execution_id, row
    [record] = deployment.materializations(ASSET_PATH)
    assert record["partition"] == WEEK.isoformat() and record["runId"] == run["runId"]
    metadata = metadata_of(record["metadataEntries"])
    assert metadata["execution_id"] == str(row.execution_id)
    assert metadata["amc_execution_id"] == row.amc_execution_id
    # ... an execution of the "live" AMC, i.e. the sandbox on the host.
    executions = deployment.sandbox.executions()
    assert row.amc_execution_id in {e["execution_id"] for e in executions}, executions

    # The run's captured output, read back through the webserver from the shared volume after
    # the run's container was removed.
    events = deployment.graphql(RUN_LOGS, {"runId": run["runId"]})["logsForRun"]["events"]
    captured = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    assert captured, "no LogsCapturedEvent: the run's output was not captured"
    for event in captured:
        logs = deployment.graphql(
            CAPTURED_LOGS, {"logKey": [run["runId"], "compute_logs", event["fileKey"]]}
        )["capturedLogs"]
        output = (logs["stdout"] or "") + (logs["stderr"] or "")
        assert output.strip(), f"empty compute logs for {event['stepKeys']}"
    phase("checked", started)
