"""The Kubernetes deployment without a cluster: the Job a run would get, and the init-pools job.

The run's Job is built by dagster-k8s's own `K8sRunLauncher.launch_run` from the launcher config
and the code location's container context that the Helm chart renders from deploy/helm/values.yaml
(see `helm_chart`); only the call that would send it to a cluster is replaced by a recorder. The
Job is then checked through the Kubernetes client's models: a serialize/deserialize round trip
that must give the same document back (a misspelt field would not survive it).
"""

from __future__ import annotations

import json
import re
from typing import Any

import dagster as dg
import kubernetes
import pytest
import yaml
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.test_utils import create_run_for_test
from dagster_k8s import K8sRunLauncher
from kubernetes.utils import parse_quantity

from amc_reports.config import profile_env_vars
from amc_reports_tests.deploy_tests import helm_chart

AMC_CREDENTIAL_VARS = profile_env_vars().names

JOB_NAME = "__ASSET_JOB"
IMAGE_PYTHON = "/opt/venv/bin/python"  # the Dockerfile's venv


class RecordingBatchApi:
    """Stands in for the cluster's batch API: keeps the Jobs it is asked to create."""

    def __init__(self) -> None:
        self.created: list[tuple[Any, str]] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        self.created.append((body, namespace))
        return body


class _Response:
    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def round_trip(document: dict[str, Any], kind: str) -> tuple[Any, dict[str, Any]]:
    """The document as a kubernetes client model, and that model serialized again."""
    client = kubernetes.client.ApiClient()
    model = client.deserialize(_Response(document), kind)
    return model, client.sanitize_for_serialization(model)


@pytest.fixture(scope="module")
def chart_values() -> dict[str, Any]:
    return helm_chart.values()


@pytest.fixture(scope="module")
def run_job(chart_values, tmp_path_factory) -> tuple[dict[str, Any], str]:
    """The Job (as a manifest) and namespace `K8sRunLauncher` creates for one backfill run."""
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(helm_chart.KUBECONFIG)
    config = helm_chart.run_launcher_config(chart_values, kubeconfig)
    checked = process_config(K8sRunLauncher.config_type(), config)
    assert checked.success, checked.errors  # the rendered config is valid launcher config
    batch_api = RecordingBatchApi()
    image = helm_chart.image_name(helm_chart.user_deployment(chart_values)["image"])
    # What the code server in the image (`dagster api grpc -m amc_reports.definitions`, with
    # DAGSTER_CURRENT_IMAGE and the container context the chart sets) reports for a run.
    origin = JobPythonOrigin(
        JOB_NAME,
        RepositoryPythonOrigin(
            executable_path=IMAGE_PYTHON,
            code_pointer=ModuleCodePointer("amc_reports.definitions", "defs", None),
            container_image=image,
            container_context=helm_chart.code_location_container_context(chart_values),
            entry_point=["dagster"],
        ),
    )
    with dg.instance_for_test() as instance:
        launcher = K8sRunLauncher(**config, k8s_client_batch_api=batch_api)
        launcher.register_instance(instance)
        run = create_run_for_test(
            instance,
            job_name=JOB_NAME,
            job_code_origin=origin,
            tags={"dagster/partition": "2026-03-01", "dagster/backfill": "bkfl1"},
        )
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        [(job, namespace)] = batch_api.created
        document = kubernetes.client.ApiClient().sanitize_for_serialization(job)
        assert instance.get_run_by_id(run.run_id).tags["dagster/image"] == image
    return document, namespace


def container(job: dict[str, Any]) -> dict[str, Any]:
    [main] = job["spec"]["template"]["spec"]["containers"]
    return main


def test_the_run_job_is_a_valid_kubernetes_job(run_job):
    document, namespace = run_job
    model, again = round_trip(document, "V1Job")
    assert isinstance(model, kubernetes.client.V1Job)
    assert again == document
    assert namespace == helm_chart.NAMESPACE
    assert document["kind"] == "Job" and document["apiVersion"] == "batch/v1"
    assert document["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_run_runs_the_code_locations_image_and_executes_the_run(run_job, chart_values):
    main = container(run_job[0])
    deployment = helm_chart.user_deployment(chart_values)
    assert main["image"] == helm_chart.image_name(deployment["image"])
    assert main["imagePullPolicy"] == deployment["image"]["pullPolicy"]
    assert main["args"][:3] == ["dagster", "api", "execute_run"]
    assert JOB_NAME in main["args"][3]  # the serialized run arguments


def test_the_run_gets_amc_credentials_and_the_warehouse_from_the_secret(run_job, chart_values):
    main = container(run_job[0])
    secrets = {source["secretRef"]["name"] for source in main["envFrom"] if "secretRef" in source}
    assert secrets == {"amc-reports-env"}
    # The secret values.yaml tells you to create is the Compose env file, every profile in it.
    created = re.search(
        r"kubectl create secret generic amc-reports-env (--from-env-file=\S+)",
        helm_chart.VALUES_PATH.read_text(),
    )
    assert created, "values.yaml no longer says how to create the amc-reports-env secret"
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["AMC_REPORTS_ENV"] == "production"
    # Dagster's own storage password, from the chart's Postgres secret.
    [password] = [e for e in main["env"] if e["name"] == "DAGSTER_PG_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": helm_chart.postgres_secret(chart_values),
        "key": "postgresql-password",
    }
    names = {e["name"] for e in main["env"]}
    assert "DAGSTER_HOME" in names and not names & set(AMC_CREDENTIAL_VARS)  # no inlined secrets


def test_the_run_writes_its_compute_logs_to_the_shared_claim(run_job):
    main = container(run_job[0])
    [mount] = [m for m in main["volumeMounts"] if m["mountPath"] == "/opt/dagster/compute_logs"]
    volumes = run_job[0]["spec"]["template"]["spec"]["volumes"]
    [volume] = [v for v in volumes if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == "amc-reports-compute-logs"


def test_the_run_has_the_run_resources_of_values_yaml(run_job, chart_values):
    main = container(run_job[0])
    wanted = chart_values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"][
        "containerConfig"
    ]["resources"]
    assert main["resources"] == wanted
    requests, limits = main["resources"]["requests"], main["resources"]["limits"]
    assert parse_quantity(requests["memory"]) <= parse_quantity(limits["memory"])
    assert parse_quantity(requests["cpu"]) > 0


def test_the_run_is_a_run_worker_of_the_release(run_job, chart_values):
    job = run_job[0]
    env = {e["name"]: e.get("value") for e in container(job)["env"]}
    assert env["DAGSTER_HOME"] == chart_values["global"]["dagsterHome"]
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "run_worker"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{helm_chart.fullname()}-user-deployments"


def test_the_helm_path_has_an_init_job_running_init_pools(chart_values):
    document = yaml.safe_load(helm_chart.INIT_POOLS_JOB_PATH.read_text())
    model, again = round_trip(document, "V1Job")
    assert isinstance(model, kubernetes.client.V1Job)
    assert again == document
    main = container(document)
    assert main["command"] == ["amc-reports", "init-pools"]
    deployment = helm_chart.user_deployment(chart_values)
    assert main["image"] == helm_chart.image_name(deployment["image"])
    env = {e["name"]: e for e in main["env"]}
    home = chart_values["global"]["dagsterHome"]
    assert env["DAGSTER_HOME"]["value"] == home
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": helm_chart.postgres_secret(chart_values),
        "key": "postgresql-password",
    }
    [volume] = document["spec"]["template"]["spec"]["volumes"]
    assert volume["configMap"]["name"] == f"{helm_chart.fullname()}-instance"
    [mount] = main["volumeMounts"]
    assert (mount["name"], mount["mountPath"]) == (volume["name"], f"{home}/dagster.yaml")
    # values.yaml installs the release the job's names assume, and says to run the job.
    text = helm_chart.VALUES_PATH.read_text()
    assert f"helm upgrade --install {helm_chart.RELEASE} dagster/dagster" in text
    assert "kubectl apply -f deploy/helm/init-pools-job.yaml" in text
