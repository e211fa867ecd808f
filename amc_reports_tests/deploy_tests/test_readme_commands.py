"""Every deployment file (Dockerfile, deploy/docker-compose.yml, deploy/dagster.yaml, the Helm
values) against the README's deployment section: the same code server command, production set,
the variable names the README documents, the image without the `local` extra, and run output kept.
"""

from __future__ import annotations

import re
import tomllib
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from amc_reports.config import profile_env_vars
from amc_reports.environment import DATABASE_URL_VAR, EnvironmentConfigError, build_resources
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.deploy_tests import helm_chart

DEPLOY = PROJECT_ROOT / "deploy"
ENV_VAR = "AMC_REPORTS_ENV"
COMPUTE_LOGS_DIR = "/opt/dagster/compute_logs"


def readme_deploying() -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(r"^## Deploying\n(.*?)^## ", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Deploying' section"
    return match.group(1)


def dockerfile() -> str:
    return (PROJECT_ROOT / "Dockerfile").read_text()


def dockerfile_cmd() -> list[str]:
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile(), re.MULTILINE)
    return yaml.safe_load(cmd)


def dockerfile_env() -> dict[str, str]:
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", dockerfile(), re.MULTILINE)
    assert block, "the Dockerfile sets no ENV"
    pairs = re.findall(r"([A-Z_]+)=(\S+)", block.group(1))
    return dict(pairs)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def instance() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def readme_code_server_command() -> list[str]:
    commands = set(re.findall(r"`(dagster api grpc [^`]+)`", readme_deploying()))
    assert len(commands) == 1, f"the README names {len(commands)} code server commands: {commands}"
    return commands.pop().split()


def test_every_deployment_runs_the_readmes_code_server_command(compose):
    command = readme_code_server_command()
    assert command[-2:] == ["-m", "amc_reports.definitions"]
    # The image's CMD, which the Compose code service runs (it sets no command of its own).
    assert dockerfile_cmd() == command
    assert "command" not in compose["services"]["amc_reports_code"]
    # The Helm chart builds its command from dagsterApiGrpcArgs and the port.
    deployment = helm_chart.user_deployment(helm_chart.values())
    assert helm_chart.code_server_command(deployment) == command
    # And the forked server the deployments no longer run is not documented for them.
    assert "amc-reports code-server" not in readme_deploying()


def test_every_deployment_runs_in_production(compose, instance):
    assert f"`{ENV_VAR}`" in readme_deploying() and "`production`" in readme_deploying()
    assert dockerfile_env()[ENV_VAR] == "production"
    dagster_env = compose["x-dagster-env"]
    assert dagster_env[ENV_VAR] == "production"
    for name in ("amc_reports_code", "webserver", "daemon"):
        service = compose["services"][name]
        assert service["environment"][ENV_VAR] == "production", name
    chart = helm_chart.values()
    deployment = helm_chart.user_deployment(chart)
    assert {"name": ENV_VAR, "value": "production"} in deployment["env"]
    launcher = chart["runLauncher"]["config"]["k8sRunLauncher"]
    assert f"{ENV_VAR}=production" in launcher["envVars"]
    # Runs launched by Docker get it from the daemon (forwarded by prefix) and from the image.
    prefixes = instance["run_launcher"]["config"]["forward_env_prefixes"]
    assert ENV_VAR.startswith(tuple(prefixes))


def test_the_readmes_variables_are_the_ones_the_deployments_use():
    section = readme_deploying()
    for name in (ENV_VAR, DATABASE_URL_VAR, *profile_env_vars().names):
        assert f"`{name}`" in section, name
    # Each profile's variables follow the README's documented pattern.
    assert "`AMC_<PROFILE>_...`" in section
    assert profile_env_vars("agency_b").client_id == "AMC_AGENCY_B_CLIENT_ID"
    example = (DEPLOY / ".env.example").read_text()
    for name in profile_env_vars().names:
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
    assert "AMC_AGENCY_B_CLIENT_ID" in example  # shows where another profile goes


def test_the_image_installs_the_deploy_extra_without_the_local_one():
    installs = re.findall(r"pip install [^\n]*", dockerfile())
    assert installs == ['pip install --no-cache-dir ${PIP_INSTALL_OPTIONS} ".[deploy]"']
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    deploy = " ".join(pyproject["project"]["optional-dependencies"]["deploy"])
    for stand_in in ("local", "duckdb", "pgserver"):
        assert stand_in not in deploy, stand_in
    assert "`local` extra" in readme_deploying()
    # The base image is a build argument whose default is the one users get.
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile(), re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile(), re.MULTILINE)


def test_runs_output_is_kept_as_compute_logs(compose, instance):
    manager = instance["compute_logs"]
    assert manager["class"] == "LocalComputeLogManager"
    assert manager["config"]["base_dir"] == COMPUTE_LOGS_DIR
    # Run containers (removed when they end) write to the volume the webserver reads.
    kwargs = instance["run_launcher"]["config"]["container_kwargs"]
    [mount] = kwargs["volumes"]
    volume_name, target = mount.split(":")
    assert target == COMPUTE_LOGS_DIR
    [(key, volume)] = [(k, v) for k, v in compose["volumes"].items() if k != "postgres-data"]
    assert volume["name"] == volume_name
    assert f"{key}:{COMPUTE_LOGS_DIR}" in compose["services"]["webserver"]["volumes"]
    # Kubernetes: the same manager, on a claim the run pods and the webserver mount.
    chart = helm_chart.values()
    custom = chart["computeLogManager"]["config"]["customComputeLogManager"]
    assert (custom["class"], custom["config"]["base_dir"]) == (manager["class"], COMPUTE_LOGS_DIR)
    assert custom["module"] == manager["module"]
    run_config = chart["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    webserver = chart["dagsterWebserver"]
    for mounts, volumes in (
        (run_config["containerConfig"]["volumeMounts"], run_config["podSpecConfig"]["volumes"]),
        (webserver["volumeMounts"], webserver["volumes"]),
    ):
        [mount] = [m for m in mounts if m["mountPath"] == COMPUTE_LOGS_DIR]
        [claim] = [v for v in volumes if v["name"] == mount["name"]]
        assert claim["persistentVolumeClaim"]["claimName"] == "amc-reports-compute-logs"


def test_no_deployment_file_names_what_no_longer_exists():
    for path in (
        DEPLOY / "helm" / "values.yaml",
        DEPLOY / "docker-compose.yml",
        DEPLOY / "dagster.yaml",
    ):
        text = path.read_text()
        assert "collect_<report>" not in text, path
        assert "amc-reports code-server" not in text, path


def test_the_readme_shows_the_refusal_production_gives():
    """The message in the README's deployment section is the one a production deployment with
    its warehouse URL and half of a second profile missing gets."""
    blocks = re.findall(r"```\n(.*?)```", readme_deploying(), re.DOTALL)
    [shown] = [block for block in blocks if block.startswith(f"{ENV_VAR}=production")]
    agency_b = profile_env_vars("agency_b")
    env = {ENV_VAR: "production", agency_b.client_id: "amzn1.application-oa2-client.b"}
    env.update({name: "set" for name in profile_env_vars().names})
    config = SimpleNamespace(profiles=("default", "agency_b"))
    with pytest.raises(EnvironmentConfigError) as refused:
        build_resources(env, config)  # type: ignore[arg-type]
    assert str(refused.value) == shown.rstrip("\n")
