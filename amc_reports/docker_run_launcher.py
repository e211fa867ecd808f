"""The Docker run launcher of the Compose deployment: Dagster's `DockerRunLauncher` that also
forwards, from the daemon's environment into each run's container, every variable whose name
starts with one of `forward_env_prefixes` (default `AMC_` and `DAGSTER_PG_`).

Compose gives the daemon the whole env file (`env_file: .env`), so every credential profile in it
(`AMC_CLIENT_ID`..., `AMC_<PROFILE>_CLIENT_ID`...), the warehouse URL, `AMC_REPORTS_ENV` and
Dagster's storage settings reach the runs; adding a profile means adding its lines to the env
file, not naming them again in `deploy/dagster.yaml` or rebuilding the image. `env_vars` still
works as in Dagster for anything else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import Array, DagsterRun, Field
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext
from dagster_docker.utils import DOCKER_CONFIG_SCHEMA

DEFAULT_FORWARD_ENV_PREFIXES = ("AMC_", "DAGSTER_PG_")


def forwarded_env_names(env: Mapping[str, str], prefixes: Sequence[str]) -> list[str]:
    """The names in `env` that start with one of `prefixes`, sorted."""
    return sorted(name for name in env if name.startswith(tuple(prefixes)))


class EnvFileDockerRunLauncher(DockerRunLauncher):
    """`DockerRunLauncher` that forwards every variable with one of the given prefixes."""

    def __init__(
        self,
        forward_env_prefixes: Sequence[str] = DEFAULT_FORWARD_ENV_PREFIXES,
        **kwargs: Any,
    ) -> None:
        self.forward_env_prefixes = tuple(forward_env_prefixes)
        super().__init__(**kwargs)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **DOCKER_CONFIG_SCHEMA,
            "forward_env_prefixes": Field(
                Array(str),
                is_required=False,
                default_value=list(DEFAULT_FORWARD_ENV_PREFIXES),
                description="Forward every daemon variable whose name starts with one of these.",
            ),
        }

    def get_container_context(self, dagster_run: DagsterRun) -> DockerContainerContext:
        context = super().get_container_context(dagster_run)
        names = forwarded_env_names(os.environ, self.forward_env_prefixes)
        return context.merge(DockerContainerContext(env_vars=names))
