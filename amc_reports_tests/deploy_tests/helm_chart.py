"""What the official Dagster Helm chart (1.13) renders from deploy/helm/values.yaml, for the parts
a run's Kubernetes Job is built from. No cluster and no `helm` here: these helpers restate the
chart's templates for the values this project sets, and say which template each mirrors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from amc_reports.paths import PROJECT_ROOT

VALUES_PATH = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
INIT_POOLS_JOB_PATH = PROJECT_ROOT / "deploy" / "helm" / "init-pools-job.yaml"
RELEASE = "amc-reports"  # the release name values.yaml's install command uses
NAMESPACE = "amc"


def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_PATH.read_text())


def fullname(release: str = RELEASE) -> str:
    """`dagster.fullname` (_helpers.tpl): the release name, suffixed unless it contains it."""
    return release if "dagster" in release else f"{release}-dagster"


def user_deployment(chart_values: dict[str, Any]) -> dict[str, Any]:
    [deployment] = chart_values["dagster-user-deployments"]["deployments"]
    return deployment


def code_server_command(deployment: dict[str, Any]) -> list[str]:
    """The code server's command (dagster-user-deployments' deployment-user.yaml, for
    `dagsterApiGrpcArgs`): `dagster api grpc -h 0.0.0.0 -p <port>` and the args."""
    return ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(deployment["port"])] + list(
        deployment["dagsterApiGrpcArgs"]
    )


def image_name(image: dict[str, Any]) -> str:
    """`dagster.dagsterImage.name`: repository:tag."""
    return f"{image['repository']}:{image['tag']}"


def postgres_secret(chart_values: dict[str, Any]) -> str:
    return chart_values["global"]["postgresqlSecretName"]


def run_launcher_config(chart_values: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """`dagsterYaml.runLauncher.k8s` (helpers/instance/_run-launcher.tpl), except that the
    Kubernetes client is configured from `kubeconfig` (a file naming no reachable cluster)
    instead of from inside a cluster."""
    launcher = chart_values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher.get("imagePullPolicy", "Always"),
        "service_account_name": fullname(),
        "dagster_home": chart_values["global"]["dagsterHome"],
        "instance_config_map": f"{fullname()}-instance",
        "postgres_password_secret": postgres_secret(chart_values),
    }
    names = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
    for key, field in names.items():
        entries = [entry["name"] for entry in launcher.get(key, []) if "name" in entry]
        if entries:
            config[field] = entries
    if launcher.get("envVars"):
        config["env_vars"] = list(launcher["envVars"])
    run_k8s = launcher.get("runK8sConfig") or {}
    sections = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_k8s:
        config["run_k8s_config"] = {
            field: run_k8s[key] for key, field in sections.items() if run_k8s.get(key)
        }
    return config


def code_location_container_context(chart_values: dict[str, Any]) -> dict[str, Any]:
    """`dagsterUserDeployments.k8sContainerContext` (dagster-user-deployments helpers): what the
    code server reports with each run (includeConfigInLaunchedRuns is on by default)."""
    deployment = user_deployment(chart_values)
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{fullname()}-{deployment['name']}-user-env"]
        + [entry["name"] for entry in deployment.get("envConfigMaps", []) if "name" in entry],
        "namespace": NAMESPACE,
        "service_account_name": f"{fullname()}-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    secrets = [entry["name"] for entry in deployment.get("envSecrets", []) if "name" in entry]
    if secrets:
        k8s["env_secrets"] = secrets
    if deployment.get("resources"):
        k8s["resources"] = deployment["resources"]
    return {"k8s": k8s}


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""
