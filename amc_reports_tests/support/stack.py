"""A real deployment on one machine: Postgres, the sandbox, a gRPC code server, webserver, daemon.

Used by the end-to-end and browser tests and by the benchmarks (`bench/backfill.py`, `scale.py`,
`faults.py`); nothing in the product runs it. Dagster's own storage is Postgres
(dagster-postgres) configured from `deploy/dagster.yaml`; runs are launched by the daemon as
separate run-worker processes, exactly as in production minus the container run launcher.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
import yaml

from amc_reports.local.postgres import EmbeddedPostgres
from amc_reports.local.sandbox import ensure_sandbox, stop_sandbox
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.support.warehouse import with_database

BIN = Path(sys.executable).parent
PRODUCT_LOCATION = "amc_reports"


PRODUCT_TARGET = ("-m", "amc_reports.definitions")


def forked_code_server(*target: str) -> list[str]:
    """`amc-reports code-server` for `target` (`-m module` or `-f file`): run workers forked
    preloaded, as deploy/ runs the product on one VM."""
    return [str(BIN / "amc-reports"), "code-server", *target]


def stock_code_server(*target: str) -> list[str]:
    """Dagster's own code server for `target` (run workers spawned)."""
    return [str(BIN / "dagster"), "api", "grpc", *target]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # not up yet
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})"
    )


# A backfill's statuses once it has ended.
BACKFILL_DONE = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)


class WebserverGraphQL:
    """What the UI sends the webserver at `webserver_url` (this stack's, or the Compose
    deployment's): GraphQL, launching a backfill, its status, an asset's materializations."""

    webserver_url: str

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.webserver_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=120,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_backfill(
        self,
        asset_paths: list[list[str]],
        start: str,
        end: str,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Launch a backfill as the UI does; `tags` go on each of its runs."""
        params: dict[str, Any] = {
            "partitionsByAssets": [
                {
                    "assetKey": {"path": path},
                    "partitions": {"range": {"start": start, "end": end}},
                }
                for path in asset_paths
            ]
        }
        if tags:
            params["tags"] = [{"key": key, "value": value} for key, value in tags.items()]
        data = self.graphql(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {data}")
        return data["backfillId"]

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        return self.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})[
            "partitionBackfillOrError"
        ]

    def materializations(self, asset_path: list[str]) -> list[dict[str, Any]]:
        data = self.graphql(ASSET_MATERIALIZATIONS, {"assetKey": {"path": asset_path}})
        return data["assetOrError"]["assetMaterializations"]


@dataclass
class Stack(WebserverGraphQL):
    root: Path
    # Runs each AMC instance's pool admits: None keeps what `amc-reports init-pools` sets (AMC's
    # 10 plus the weeks queued ahead); a number (tests keep runs few) replaces it.
    pool_limit: int | None = None
    sandbox_config: dict[str, Any] = field(default_factory=dict)
    reports_config: Path = PROJECT_ROOT / "reports.yaml"
    max_concurrent_runs: int = 25
    extra_env: dict[str, str] = field(default_factory=dict)
    # The embedded Postgres data folder (default root/postgres). As root, keep it out of pytest's
    # basetemp: see amc_reports_tests.fixtures_postgres.server_temp_dir.
    postgres_dir: Path | None = None
    # Code servers: location name -> the command serving it (host and port are appended). The
    # product's is `amc-reports code-server` (run workers forked preloaded), process `grpc`;
    # others (a benchmark's) are processes `grpc-<name>`.
    code_locations: dict[str, list[str]] = field(
        default_factory=lambda: {PRODUCT_LOCATION: forked_code_server(*PRODUCT_TARGET)}
    )
    # Top-level sections of the instance config replacing deploy/dagster.yaml's (a benchmark's A/B).
    instance_overrides: dict[str, Any] = field(default_factory=dict)

    processes: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    webserver_url: str = field(default="", init=False)
    sandbox_url: str = field(default="", init=False)
    warehouse_url: str = field(default="", init=False)
    env: dict[str, str] = field(default_factory=dict, init=False)
    # Seconds each phase of start() took (postgres, sandbox, code_server, webserver, init_pools).
    timings: dict[str, float] = field(default_factory=dict, init=False)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        mark = time.perf_counter()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            self.timings[name] = now - mark
            mark = now

        self.postgres = EmbeddedPostgres(
            self.postgres_dir or self.root / "postgres", idle_stop_seconds=-1
        )
        admin_url = self.postgres.uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in ("dagster_storage", "warehouse"):
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if not exists.fetchone():
                    conn.execute(f'CREATE DATABASE "{name}"')
        phase("postgres")
        self.warehouse_url = with_database(admin_url, "warehouse")
        storage_url = with_database(admin_url, "dagster_storage")
        # Dagster's storage goes through SQLAlchemy + psycopg2: say so in the scheme.
        dagster_pg_url = storage_url.replace("postgresql://", "postgresql+psycopg2://", 1)

        sandbox_port = free_port()
        sandbox_dir = self.root / "sandbox"
        sandbox_dir.mkdir(parents=True, exist_ok=True)
        # The stack's sandbox settings are its base config: set_sandbox_config() overlays them.
        (sandbox_dir / "sandbox.yaml").write_text(yaml.safe_dump(self.sandbox_config))
        self.sandbox_url = ensure_sandbox(
            host="127.0.0.1", port=sandbox_port, state_dir=sandbox_dir
        )
        phase("sandbox")

        home = self.root / "dagster_home"
        home.mkdir(exist_ok=True)
        (home / "dagster.yaml").write_text(yaml.safe_dump(self._instance_config()))
        grpc_ports = {name: free_port() for name in self.code_locations}
        workspace = self.root / "workspace.yaml"
        workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": name}}
                        for name, port in grpc_ports.items()
                    ]
                }
            )
        )
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_pg_url,
            # The stand-ins on purpose: the sandbox against this stack's Postgres.
            "AMC_REPORTS_ENV": "local",
            "AMC_REPORTS_DATABASE_URL": self.warehouse_url,
            "AMC_REPORTS_SANDBOX_URL": self.sandbox_url,
            "AMC_REPORTS_CONFIG": str(self.reports_config),
            "AMC_REPORTS_HOME": str(self.root / "state"),
            **self.extra_env,
        }
        for name in ("AMC_CLIENT_ID", "AMC_CLIENT_SECRET", "AMC_REFRESH_TOKEN"):
            self.env.pop(name, None)

        for name, command in self.code_locations.items():
            self._spawn(
                self.grpc_process_name(name),
                [*command, "-h", "127.0.0.1", "-p", str(grpc_ports[name])],
            )
        for name, port in grpc_ports.items():
            wait_for(
                lambda port=port: (
                    subprocess.run(
                        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                        env=self.env,
                        capture_output=True,
                        timeout=30,
                    ).returncode
                    == 0
                ),
                f"the gRPC code server of {name}",
                timeout=180,
                interval=1.0,
            )
        phase("code_server")
        web_port = free_port()
        self.webserver_url = f"http://127.0.0.1:{web_port}"
        self._spawn(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
                "-w",
                str(workspace),
            ],
        )
        wait_for(
            lambda: requests.get(f"{self.webserver_url}/server_info", timeout=5).ok,
            "the webserver",
            timeout=180,
        )
        phase("webserver")
        subprocess.run(
            [str(BIN / "amc-reports"), "init-pools"], env=self.env, check=True, capture_output=True
        )
        phase("init_pools")
        if self.pool_limit is not None:
            self._limit_amc_pools(self.pool_limit)
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)])
        return self

    @staticmethod
    def grpc_process_name(location: str) -> str:
        return "grpc" if location == PRODUCT_LOCATION else f"grpc-{location}"

    def _instance_config(self) -> dict[str, Any]:
        """deploy/dagster.yaml, with storage on our server and the single-host process launcher."""
        config = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
        config["run_launcher"] = {
            "module": "amc_reports.run_launcher",
            "class": "LocalProcessRunLauncher",
        }
        config["storage"] = {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
        if self.pool_limit is not None:
            config["concurrency"]["pools"]["default_limit"] = self.pool_limit
        config["concurrency"]["runs"]["max_concurrent_runs"] = self.max_concurrent_runs
        # Fast daemon loops keep a test short; production keeps the defaults.
        config["run_monitoring"]["poll_interval_seconds"] = 5
        config["run_monitoring"]["free_slots_after_run_end_seconds"] = 5
        config.update(self.instance_overrides)
        return config

    def _limit_amc_pools(self, runs: int) -> None:
        from amc_reports.config import load_config

        with self.instance() as dagster_instance:
            storage = dagster_instance.event_log_storage
            for amc_instance in load_config(self.reports_config).instances.values():
                storage.set_concurrency_slots(amc_instance.pool, runs)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        names = ["daemon", "webserver", *map(self.grpc_process_name, self.code_locations)]
        for name in names:
            process = self.processes.pop(name, None)
            if process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        with contextlib.suppress(Exception):
            stop_sandbox(self.root / "sandbox")
        with contextlib.suppress(Exception):
            self.postgres.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def instance(self) -> Any:
        """The deployment's DagsterInstance, opened in this process (its storage is Postgres)."""
        import dagster as dg

        os.environ["DAGSTER_PG_URL"] = self.env["DAGSTER_PG_URL"]
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    # -- sandbox -----------------------------------------------------------------------------

    def set_sandbox_config(self, config: dict[str, Any]) -> None:
        response = requests.put(f"{self.sandbox_url}/_sandbox/config", json=config, timeout=30)
        response.raise_for_status()

    def sandbox_executions(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.sandbox_url}/_sandbox/executions", timeout=30)
        response.raise_for_status()
        body = response.json()
        return body["executions"] if isinstance(body, dict) else body

    def sandbox_stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.sandbox_url}/_sandbox/stats", timeout=30)
        response.raise_for_status()
        return response.json()

    def wait_backfill(self, backfill_id: str, timeout: float) -> dict[str, Any]:
        return wait_for(
            lambda: (b := self.backfill(backfill_id))["status"] in BACKFILL_DONE and b,
            f"backfill {backfill_id}",
            timeout=timeout,
            interval=2.0,
        )

    def check_executions(self, asset_path: list[str], check_name: str) -> list[dict[str, Any]]:
        """An asset check's executions, newest first: partition, status and the evaluation
        (passed, severity, description) once it ended."""
        data = self.graphql(
            ASSET_CHECK_EXECUTIONS, {"assetKey": {"path": asset_path}, "checkName": check_name}
        )
        return data["assetCheckExecutions"]

    def runs(self) -> list[dict[str, Any]]:
        return self.graphql(RUNS)["runsOrError"]["results"]

    def sensor_ticks(self, name: str) -> list[dict[str, Any]]:
        """The sensor's latest ticks (newest first), as the UI shows them."""
        selector = {
            "repositoryLocationName": "amc_reports",
            "repositoryName": "__repository__",
            "sensorName": name,
        }
        sensor = self.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise RuntimeError(f"sensor {name}: {sensor}")
        return sensor["sensorState"]["ticks"]

    def wait_sensor_ticked(self, name: str, timeout: float = 300) -> None:
        """Wait until the daemon has evaluated the sensor once (its cursor starts from there)."""
        wait_for(
            lambda: any(t["status"] != "STARTED" for t in self.sensor_ticks(name)),
            f"a first tick of sensor {name}",
            timeout=timeout,
            interval=2.0,
        )


SENSOR_TICKS = """
query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 5) { status timestamp } } }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions
      runs(limit: 1000) { runId status tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_MATERIALIZATIONS = """
query Materializations($assetKey: AssetKeyInput!) {
  assetOrError(assetKey: $assetKey) {
    ... on Asset {
      assetMaterializations(limit: 1000) {
        partition
        runId
        timestamp
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
        }
      }
    }
  }
}
"""

ASSET_CHECK_EXECUTIONS = """
query CheckExecutions($assetKey: AssetKeyInput!, $checkName: String!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 1000) {
    partition
    status
    evaluation { success severity description }
  }
}
"""

RUNS = """
query Runs {
  runsOrError(limit: 1000) {
    ... on Runs { results { runId status tags { key value } startTime endTime } }
  }
}
"""
