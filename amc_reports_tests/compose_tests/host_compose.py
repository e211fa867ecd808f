"""deploy/docker-compose.yml and deploy/dagster.yaml as the test runs them: the same services,
images, commands, env file, volumes and run launcher, with host networking only.

What changes, and nothing else: every container uses the host's network (no bridge network, no
published ports), so service names become 127.0.0.1 and each port a free one the test chose; the
servers listen on 127.0.0.1 instead of 0.0.0.0; Postgres is Debian's, from the base image (no
registry here), initialised with the shipped deploy/initdb scripts; the Docker socket is the
test's own daemon's; the run launcher puts runs on the host network too. Each substitution must
find what it replaces, so a change to the shipped files fails here instead of being skipped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.support.compose_file import interpolated

DEPLOY = PROJECT_ROOT / "deploy"
DAGSTER_SERVICES = ("init_pools", "amc_reports_code", "webserver", "daemon")
DOCKER_SOCKET = "/var/run/docker.sock"
INSTANCE_PATH = "/opt/dagster/home/dagster.yaml"  # the Dockerfile's DAGSTER_HOME


@dataclass(frozen=True)
class Ports:
    postgres: int
    code_server: int
    webserver: int


def _replace_once(values: list[str], old: str, new: str, where: str) -> list[str]:
    assert values.count(old) == 1, f"{where}: expected one {old!r} in {values}"
    return [new if value == old else value for value in values]


def _port_argument(command: list[str], old: int, new: int, where: str) -> list[str]:
    index = command.index("-p") + 1
    assert command[index] == str(old), f"{where}: expected -p {old} in {command}"
    command = [*command[:index], str(new), *command[index + 1 :]]
    return _replace_once(command, "0.0.0.0", "127.0.0.1", where)


POSTGRES_SCRIPT = """
set -e
BIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
DATA=/var/lib/postgresql/amc_reports
install -d -o postgres -m 700 "$DATA"
printf '%s' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
runuser -u postgres -- "$BIN/initdb" -D "$DATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile \
  --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 > /dev/null
rm /tmp/pwfile
OPTIONS="-p $PGPORT -c listen_addresses=127.0.0.1 -k /tmp"
runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -o "$OPTIONS" -w start > /dev/null
export PGPASSWORD="$POSTGRES_PASSWORD"
psql -q -h 127.0.0.1 -p "$PGPORT" -U "$POSTGRES_USER" -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE $POSTGRES_DB"
for script in /docker-entrypoint-initdb.d/*.sql; do
  psql -q -h 127.0.0.1 -p "$PGPORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 \
    -f "$script"
done
runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -w stop > /dev/null
touch /tmp/initialized
exec runuser -u postgres -- "$BIN/postgres" -D "$DATA" $OPTIONS
"""


def host_network_compose(
    env: dict[str, str],
    *,
    ports: Ports,
    base_image: str,
    env_file: Path,
    workspace: Path,
    instance: Path,
    docker_socket: Path,
) -> dict[str, Any]:
    """The shipped Compose file, interpolated with `env` (as `--env-file`), on the host network."""
    compose = interpolated(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()), env)
    compose.pop("name")  # docker-compose v1 has no `name:`; the test passes `-p` instead
    compose.pop("networks")
    compose.pop("x-dagster-env")
    services = compose["services"]
    for service in services.values():
        service.pop("networks")
        service.pop("ports", None)
        service.pop("build", None)  # built beforehand on the Debian base
        service["network_mode"] = "host"

    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    cmd = yaml.safe_load(dockerfile.split("\nCMD ", 1)[1].splitlines()[0])
    code = services["amc_reports_code"]
    assert "command" not in code, "the code service runs the image's CMD"
    code["command"] = _port_argument(cmd, 4000, ports.code_server, "Dockerfile CMD")
    probe = code["healthcheck"]["test"]
    assert probe[-1].count("4000") == 1, probe
    code["healthcheck"]["test"] = [*probe[:-1], probe[-1].replace("4000", str(ports.code_server))]
    webserver = services["webserver"]
    webserver["command"] = _port_argument(webserver["command"], 3000, ports.webserver, "webserver")

    warehouse_host = "@postgres:5432/"
    for name in DAGSTER_SERVICES:
        service = services[name]
        environment = service["environment"]
        assert environment["DAGSTER_PG_HOST"] == "postgres", name
        assert environment["DAGSTER_PG_PORT"] == "5432", name
        environment["DAGSTER_PG_HOST"] = "127.0.0.1"
        environment["DAGSTER_PG_PORT"] = str(ports.postgres)
        url = environment["AMC_REPORTS_DATABASE_URL"]
        assert warehouse_host in url, name
        environment["AMC_REPORTS_DATABASE_URL"] = url.replace(
            warehouse_host, f"@127.0.0.1:{ports.postgres}/"
        )
        assert service["env_file"] == ".env", name
        service["env_file"] = str(env_file)
        volumes = [
            f"{workspace}:{volume.split(':', 1)[1]}"
            if volume.startswith("./workspace.yaml:")
            else f"{docker_socket}:{DOCKER_SOCKET}"
            if volume == f"{DOCKER_SOCKET}:{DOCKER_SOCKET}"
            else volume
            for volume in service.get("volumes", [])
        ]
        service["volumes"] = [*volumes, f"{instance}:{INSTANCE_PATH}:ro"]
    assert f"{docker_socket}:{DOCKER_SOCKET}" in services["daemon"]["volumes"]

    postgres = services["postgres"]
    postgres["image"] = base_image
    postgres["environment"]["PGPORT"] = str(ports.postgres)
    postgres["volumes"] = [
        f"{DEPLOY / 'initdb'}:/docker-entrypoint-initdb.d:ro"
        if volume == "./initdb:/docker-entrypoint-initdb.d:ro"
        else volume
        for volume in postgres["volumes"]
        if not volume.startswith("postgres-data:")
    ]
    assert f"{DEPLOY / 'initdb'}:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    # Compose interpolates `$`: the script's own variables are written `$$`.
    postgres["command"] = ["sh", "-c", POSTGRES_SCRIPT.replace("$", "$$")]
    postgres["healthcheck"] = {
        "test": [
            "CMD-SHELL",
            f"test -f /tmp/initialized && pg_isready -q -h 127.0.0.1 -p {ports.postgres}",
        ],
        "interval": "2s",
        "retries": 150,
    }
    compose["volumes"].pop("postgres-data")
    return compose


def host_network_instance() -> dict[str, Any]:
    """deploy/dagster.yaml with the run containers on the host network."""
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    launcher = copy.deepcopy(instance["run_launcher"])
    assert launcher["config"]["network"] == "amc_reports"
    launcher["config"]["network"] = "host"
    return {**instance, "run_launcher": launcher}


def workspace_for(port: int) -> dict[str, Any]:
    """deploy/workspace.yaml with the code server on 127.0.0.1:`port`."""
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["grpc_server"]["host"] == "amc_reports_code"
    entry["grpc_server"].update(host="127.0.0.1", port=port)
    return workspace
