"""deploy/docker-compose.yml as `docker compose --env-file` reads it: its variable
interpolation, and deploy/.env.example as a dict (for deploy_tests and compose_tests)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from amc_reports.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation (the forms the file uses)."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        current = env.get(name)
        colon = operator is not None and operator.startswith(":")
        empty = current is None or (colon and not current)
        if operator and operator.endswith("?") and empty:
            raise ValueError(f"{name} is required: {argument}")
        if operator and operator.endswith("-") and empty:
            return argument
        return current or ""

    return VARIABLE.sub(value, text).replace("$$", "$")


def interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(item, env) for key, item in node.items()}
    return node


def env_example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}
