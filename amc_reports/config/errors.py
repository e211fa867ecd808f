"""The one error of the config: every problem of a file, each naming where it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

# The error type of every message written by this package (as opposed to pydantic's own).
CONFIG_ERROR_TYPE = "amc_config"
_MAX_SHOWN = 6  # parts of a location shown (a nested value can be 40 levels deep)


class ConfigError(ValueError):
    """One or more problems in a reports file; the message lists each with its location."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s) in the reports config:\n{lines}")


@dataclass(frozen=True)
class Must:
    """Annotated metadata: what a field must be, in words (`field 'x' must be <rule>`)."""

    rule: str


def problem(message: str) -> PydanticCustomError:
    """A validation error whose text is `message` exactly (braces in it are not placeholders)."""
    return PydanticCustomError(CONFIG_ERROR_TYPE, "{message}", {"message": message})


def where(path: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """The entity a location is in, and the rest of it.

    `("reports", "x", "lag_days")` -> `("report 'x'", ("lag_days",))`.
    """
    path = tuple(path)
    if len(path) >= 2 and path[0] == "reports":
        return f"report {path[1]!r}", path[2:]
    if len(path) >= 2 and path[0] == "instances":
        return f"instance {path[1]!r}", path[2:]
    return "", path


def located(path: Sequence[Any], message: str, *, predicate: bool = False) -> str:
    """`message` prefixed with its report (or instance) and field, as every error of the config.

    With `predicate`, a message about the field itself reads on from its name
    ("field 'sql' is empty"); otherwise it follows a colon ("field 'parameters.start': ...").
    Items of lists show as `[index]` (counted from 0, as in the file's order).
    """
    entity, rest = where(path)
    if not rest:
        return f"{entity}: {message}" if entity else message
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest[1:_MAX_SHOWN]]
    name = str(rest[0]) + "".join(parts) + ("..." if len(rest) > _MAX_SHOWN else "")
    head = f"{entity}: field {name!r}" if entity else f"field {name!r}"
    return f"{head} {message}" if predicate else f"{head}: {message}"
