"""Pydantic's validation errors, said the way this project says config problems.

One line per problem, each naming the report (or instance) and the field:
`report 'x': field 'lag_days' must be a whole number of days from 0 to 90 (got -1)`. Pydantic's own
wording of a type or range error is replaced by the field's rule (`Must` in `schema.py`), and the
several errors one bad value raises (one per member of a union) become one line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from amc_reports.config.errors import CONFIG_ERROR_TYPE, Must, located, where
from amc_reports.config.schema import InstanceConfig, ReportConfig, ReportsConfig

_GOT_LIMIT = 60


def problems_of(error: ValidationError) -> list[str]:
    """Every problem of `error` as a located message, in the order of the file."""
    lines: list[str] = []
    seen_fields: set[tuple[Any, ...]] = set()
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        entity, rest = where(loc)
        field_path = loc[: len(loc) - len(rest) + 1] if rest else loc
        model = _model_at(loc)
        if kind == CONFIG_ERROR_TYPE:
            message = item["ctx"]["message"]
            if rest and rest[-1] == "[key]":
                lines.append(f"{entity}: {message}" if entity else message)
            else:
                lines.append(located(loc, message, predicate=len(rest) == 1))
        elif kind == "extra_forbidden" and len(rest) == 1:
            allowed = ", ".join(sorted(written_fields(model)))
            if entity:
                lines.append(f"{entity}: unknown field {rest[0]!r} (allowed: {allowed})")
            else:
                lines.append(
                    f"unknown top-level key {rest[0]!r} (allowed: {allowed}; and keys starting "
                    "with 'x-' for YAML anchors)"
                )
        elif not rest or (len(rest) == 1 and rest[0] == "[key]"):
            lines.append(f"{entity}: must be a mapping of settings" if entity else _TOP_LEVEL)
        elif field_path not in seen_fields:
            seen_fields.add(field_path)
            rule = _rule(model, rest[0])
            if kind == "missing" and len(rest) == 1:
                lines.append(located(loc, f"is required ({rule})", predicate=True))
            else:
                got = f" (got {_short(item['input'])})" if len(rest) == 1 else ""
                lines.append(located(field_path, f"must be {rule}{got}", predicate=True))
    return lines


_TOP_LEVEL = "top level must be a mapping with 'instances' and 'reports'"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    if len(loc) >= 2 and loc[0] == "reports":
        return ReportConfig
    if len(loc) >= 2 and loc[0] == "instances":
        return InstanceConfig
    return ReportsConfig


def written_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the name written in the file (`instance`, not `instance_alias`)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _rule(model: type[BaseModel], name: Any) -> str:
    info = written_fields(model).get(str(name))
    for meta in info.metadata if info else ():
        if isinstance(meta, Must):
            return meta.rule
    return "valid"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _GOT_LIMIT else text[: _GOT_LIMIT - 3] + "..."
