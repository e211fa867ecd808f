"""The Docker Compose deployment without Docker: deploy/docker-compose.yml is parsed, its variables
interpolated from deploy/.env.example as `docker compose --env-file` would, and cross-checked
against the instance it runs (deploy/dagster.yaml), the workspace and the image. Nothing starts.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.test_utils import create_run_for_test

from amc_reports.config import profile_env_vars
from amc_reports.docker_run_launcher import EnvFileDockerRunLauncher
from amc_reports.environment import DATABASE_URL_VAR
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.support.compose_file import VARIABLE, env_example, interpolated

AMC_CREDENTIAL_VARS = profile_env_vars().names

DEPLOY = PROJECT_ROOT / "deploy"
DAGSTER_SERVICES = ("init_pools", "amc_reports_code", "webserver", "daemon")


def env_references(node: Any) -> Iterator[str]:
    """The names of `{env: NAME}` values in a Dagster instance config."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            yield node["env"]
        for item in node.values():
            yield from env_references(item)
    elif isinstance(node, list):
        for item in node:
            yield from env_references(item)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    # The example with what a user must fill in filled in.
    return {**env_example(), "POSTGRES_PASSWORD": "s3cret", "AMC_CLIENT_ID": "amzn1.id"}


@pytest.fixture(scope="module")
def compose(env) -> dict[str, Any]:
    return interpolated(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()), env)


@pytest.fixture(scope="module")
def instance() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def test_every_variable_the_compose_file_reads_is_in_env_example():
    text = (DEPLOY / "docker-compose.yml").read_text()
    names = {match[0] for match in VARIABLE.findall(text)}
    assert names and names <= set(env_example())
    # And the one a user must set is refused when left empty, as compose would.
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolated(yaml.safe_load(text), {**env_example(), "POSTGRES_PASSWORD": ""})


def test_the_instance_is_valid_dagster_instance_config(instance, tmp_path):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["module"] == EnvFileDockerRunLauncher.__module__
    assert config["run_launcher"]["class"] == EnvFileDockerRunLauncher.__name__
    launcher = process_config(
        EnvFileDockerRunLauncher.config_type(), instance["run_launcher"]["config"]
    )
    assert launcher.success, launcher.errors


def test_dagsters_storage_goes_through_psycopg2(instance):
    """dagster-postgres fails on psycopg 3 (SQLAlchemy 2.1's driver for a bare postgresql://)."""
    assert instance["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    chart = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert chart["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"


def test_dagster_services_can_open_the_instance(compose, instance):
    needed = set(env_references(instance["storage"]))
    assert needed, "the instance's storage reads no environment variables"
    for name in DAGSTER_SERVICES:
        assert needed <= set(environment(compose["services"][name])), name
    # Run containers get the storage settings (and the rest) forwarded by prefix.
    prefixes = tuple(instance["run_launcher"]["config"]["forward_env_prefixes"])
    assert all(name.startswith(prefixes) for name in needed)


def test_storage_settings_point_at_the_postgres_service(compose):
    postgres = environment(compose["services"]["postgres"])
    for name in DAGSTER_SERVICES:
        env = environment(compose["services"][name])
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["DAGSTER_PG_USER"] == postgres["POSTGRES_USER"]
        assert env["DAGSTER_PG_PASSWORD"] == postgres["POSTGRES_PASSWORD"] == "s3cret"
        assert env["DAGSTER_PG_DB"] == postgres["POSTGRES_DB"]
        warehouse = env[DATABASE_URL_VAR]
        user, database = postgres["POSTGRES_USER"], env_example()["WAREHOUSE_DB"]
        assert warehouse == f"postgresql://{user}:s3cret@postgres:5432/{database}"
    initdb = (DEPLOY / "initdb" / "10-warehouse.sql").read_text()
    assert f"CREATE DATABASE {env_example()['WAREHOUSE_DB']};" in initdb


class RecordingDockerClient:
    """Stands in for the Docker API: keeps the containers it is asked to create."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.containers = self

    def create(self, **kwargs: Any) -> Any:
        self.created.append(kwargs)
        return SimpleNamespace(id="c0ffee", start=lambda: None)


def test_every_profile_in_the_env_file_reaches_the_runs_container(compose, instance, monkeypatch):
    """The daemon gets the whole env file (env_file) and its launcher forwards every AMC_* and
    DAGSTER_PG_* variable: a second profile added to the file reaches the run, named nowhere
    else."""
    daemon = compose["services"]["daemon"]
    assert daemon["env_file"] == ".env"
    for name in DAGSTER_SERVICES:
        assert compose["services"][name]["env_file"] == ".env", name
    second = profile_env_vars("agency_b")
    env_file = {**env_example(), **{name: f"value-of-{name}" for name in AMC_CREDENTIAL_VARS}}
    env_file.update({name: f"value-of-{name}" for name in second.names})
    daemon_env = {**env_file, **environment(daemon)}  # compose: environment wins over env_file
    for name in list(os.environ):
        if name.startswith(("AMC_", "DAGSTER_PG_")):
            monkeypatch.delenv(name)
    for name, value in daemon_env.items():
        monkeypatch.setenv(name, value)
    config = instance["run_launcher"]["config"]
    checked = process_config(EnvFileDockerRunLauncher.config_type(), config)
    assert checked.success, checked.errors
    client = RecordingDockerClient()
    with dg.instance_for_test() as dagster_instance:
        launcher = EnvFileDockerRunLauncher(**checked.value)
        launcher.register_instance(dagster_instance)
        monkeypatch.setattr(launcher, "_get_client", lambda _context: client)
        run = create_run_for_test(dagster_instance, job_name="__ASSET_JOB")
        launcher._launch_container_with_command(run, "amc_reports:latest", ["dagster"])
    [created] = client.created
    env = created["environment"]
    for name in (*AMC_CREDENTIAL_VARS, *second.names):
        assert env[name] == f"value-of-{name}", name
    assert env[DATABASE_URL_VAR] == daemon_env[DATABASE_URL_VAR]
    assert env["AMC_REPORTS_ENV"] == "production"
    for name in env_references(instance["storage"]):
        assert env[name] == daemon_env[name], name
    assert not {"POSTGRES_PASSWORD", "POSTGRES_USER"} & set(env)  # only what runs read
    assert created["network"] == config["network"]
    assert created["volumes"] == config["container_kwargs"]["volumes"]
    networks = {network["name"] for network in compose["networks"].values()}
    assert config["network"] in networks
    for name in ("postgres", *DAGSTER_SERVICES):
        assert config["network"] in compose["services"][name]["networks"], name


def test_runs_use_the_code_locations_image(compose):
    code = compose["services"]["amc_reports_code"]
    assert environment(code)["DAGSTER_CURRENT_IMAGE"] == code["image"]
    for name in ("webserver", "daemon"):
        assert compose["services"][name]["image"] == code["image"]


def test_webserver_and_daemon_reach_the_code_server(compose):
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    server = entry["grpc_server"]
    assert server["host"] == "amc_reports_code"
    assert server["location_name"] == "amc_reports"
    command = (PROJECT_ROOT / "Dockerfile").read_text().split("CMD", 1)[1]
    assert f'"-p", "{server["port"]}"' in command  # the code service runs the image's CMD
    assert "command" not in compose["services"]["amc_reports_code"]
    for name in ("webserver", "daemon"):
        service = compose["services"][name]
        [mount] = [v for v in service["volumes"] if v.startswith("./workspace.yaml:")]
        target = mount.split(":")[1]
        command = service["command"]
        assert f"-w {target}" in (command if isinstance(command, str) else " ".join(command))


def test_pools_and_tables_are_created_once_before_the_other_services_start(compose):
    """init_pools runs `amc-reports init-pools` (which also creates Dagster's tables) alone; the
    code location, webserver and daemon start when it succeeded, so they never race to create
    the tables of an empty database."""
    init = compose["services"]["init_pools"]
    assert init["command"] == ["amc-reports", "init-pools"]
    assert init["image"] == compose["services"]["amc_reports_code"]["image"]
    assert init["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("amc_reports_code", "webserver", "daemon"):
        depends_on = compose["services"][name]["depends_on"]
        assert depends_on["init_pools"] == {"condition": "service_completed_successfully"}, name
    assert compose["services"]["daemon"]["command"][:2] == ["dagster-daemon", "run"]


def test_webserver_and_daemon_wait_for_the_code_location_to_load(compose):
    code = compose["services"]["amc_reports_code"]
    port = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"][
        "port"
    ]
    assert f"('127.0.0.1', {port})" in " ".join(code["healthcheck"]["test"])
    for name in ("webserver", "daemon"):
        depends_on = compose["services"][name]["depends_on"]
        assert depends_on["amc_reports_code"] == {"condition": "service_healthy"}, name


def test_the_image_installs_the_launchers_the_deployments_name():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    pins = dict(
        re.fullmatch(r"([a-z0-9-]+)==([0-9.]+)", dep).groups()
        for dep in [*pyproject["project"]["dependencies"], *extras["deploy"]]
        if "==" in dep
    )
    # Dagster's libraries 0.(m+16).p go with core 1.m.p (0.29.27 with 1.13.27, dagster-notes.md).
    major, minor, patch = map(int, pins["dagster"].split("."))
    for library in ("dagster-postgres", "dagster-docker", "dagster-k8s"):
        assert pins[library] == f"0.{minor + 16}.{patch}", library
    assert major == 1
    assert '".[deploy]"' in (PROJECT_ROOT / "Dockerfile").read_text()
    assert "amc_reports[deploy]" in extras["dev"]  # so the tests import what the image has
