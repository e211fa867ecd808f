"""Templated parameter values: `{{week_start - 28d}}`, `{{instance.brand_id}}` (pure).

A report's parameter value (a string, or strings anywhere inside a list or mapping) may hold
placeholders in double braces:

- `week_start`, `week_end`: the first and the last day (inclusive) of the week being collected, as
  `YYYY-MM-DD`; with an offset in days or weeks, `{{week_start - 28d}}`, `{{week_end + 1w}}`.
- `instance.<name>`: the parameter `<name>` of the instance the week is collected for (instances
  declare `parameters:`). A value that is exactly one such placeholder takes the instance value
  as it is (a list stays a list); inside longer text the instance value must be text or a number.

Templates are checked when the config loads (`parse`), and resolved per (instance, week) by
`render`. Values without placeholders are returned unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# An offset larger than this is a typo, and keeps every resolved date far from year 1 or 9999.
MAX_OFFSET_DAYS = 3660
WEEK_NAMES = ("week_start", "week_end")

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_WEEK = re.compile(r"(week_start|week_end)(?:\s*([+-])\s*(\d{1,6})\s*([dw]))?")
_INSTANCE = re.compile(r"instance\.([A-Za-z_][A-Za-z0-9_]*)")
_NAMES_HINT = "week_start, week_end (with an offset such as '- 28d' or '+ 1w') or instance.<name>"


class TemplateError(ValueError):
    """A placeholder that cannot be resolved; the message quotes it."""


@dataclass(frozen=True)
class WeekRef:
    """`{{week_start}}` / `{{week_end}}`, shifted by `offset_days`."""

    name: str
    offset_days: int = 0

    def resolve(self, week_start: date, week_end: date) -> date:
        day = week_start if self.name == "week_start" else week_end
        return day + timedelta(days=self.offset_days)


@dataclass(frozen=True)
class InstanceRef:
    """`{{instance.<parameter>}}`: a parameter of the instance the week is collected for."""

    parameter: str


Placeholder = WeekRef | InstanceRef


@dataclass(frozen=True)
class Use:
    """One placeholder found in a value, and whether it is the whole string (typed substitution)."""

    placeholder: Placeholder
    whole_value: bool


def parse_text(text: str) -> list[Use]:
    """The placeholders of one string; raises TemplateError on unknown names or bad offsets."""
    uses = []
    whole = _PLACEHOLDER.fullmatch(text) is not None
    for match in _PLACEHOLDER.finditer(text):
        uses.append(Use(_parse_placeholder(match.group(0), match.group(1).strip()), whole))
    leftover = _PLACEHOLDER.sub("", text)
    if "{{" in leftover:
        raise TemplateError(
            f"{text!r} opens a placeholder with '{{{{' that is not closed with '}}}}'"
        )
    return uses


def parse(value: Any) -> list[Use]:
    """Every placeholder in a parameter value (strings inside lists and mappings too)."""
    if isinstance(value, str):
        return parse_text(value)
    if isinstance(value, list):
        return [use for item in value for use in parse(item)]
    if isinstance(value, dict):
        return [use for item in value.values() for use in parse(item)]
    return []


def is_templated(value: Any) -> bool:
    return bool(parse(value))


def render(
    value: Any,
    *,
    week_start: date,
    week_end: date,
    instance_parameters: Mapping[str, Any],
) -> Any:
    """The value with every placeholder replaced (a new object; the input is not changed)."""
    if isinstance(value, str):
        return _render_text(value, week_start, week_end, instance_parameters)
    if isinstance(value, list):
        return [
            render(
                item,
                week_start=week_start,
                week_end=week_end,
                instance_parameters=instance_parameters,
            )
            for item in value
        ]
    if isinstance(value, dict):
        return {
            key: render(
                item,
                week_start=week_start,
                week_end=week_end,
                instance_parameters=instance_parameters,
            )
            for key, item in value.items()
        }
    return value


def check_instance_value(use: Use, instance_alias: str, parameters: Mapping[str, Any]) -> None:
    """Can this instance fill `use`? Raises TemplateError naming the instance if not."""
    if not isinstance(use.placeholder, InstanceRef):
        return
    name = use.placeholder.parameter
    if name not in parameters:
        known = ", ".join(sorted(parameters)) or "none"
        raise TemplateError(
            f"'{{{{instance.{name}}}}}' needs parameter {name!r} on instance {instance_alias!r}, "
            f"which does not declare it (its parameters: {known})"
        )
    if not use.whole_value and not _embeddable(parameters[name]):
        raise TemplateError(
            f"'{{{{instance.{name}}}}}' sits inside longer text, but instance {instance_alias!r} "
            f"gives it {parameters[name]!r}: only text and numbers can be embedded (use the "
            "placeholder as the whole value to pass a list or mapping)"
        )


def _parse_placeholder(raw: str, expression: str) -> Placeholder:
    week = _WEEK.fullmatch(expression)
    if week:
        name, sign, amount, unit = week.groups()
        if sign is None:
            return WeekRef(name)
        days = int(amount) * (7 if unit == "w" else 1)
        if days > MAX_OFFSET_DAYS:
            raise TemplateError(
                f"'{raw}': an offset of {days} days is more than {MAX_OFFSET_DAYS} (about 10 years)"
            )
        return WeekRef(name, days if sign == "+" else -days)
    instance = _INSTANCE.fullmatch(expression)
    if instance:
        return InstanceRef(instance.group(1))
    head = re.match(r"[A-Za-z_.]+", expression)
    if head and head.group(0) in WEEK_NAMES:
        raise TemplateError(
            f"'{raw}': bad offset; write '{{{{{head.group(0)} - 28d}}}}' (days) or "
            f"'{{{{{head.group(0)} + 1w}}}}' (weeks), a whole number and d or w"
        )
    raise TemplateError(f"'{raw}': unknown placeholder (known: {_NAMES_HINT})")


def _render_text(
    text: str, week_start: date, week_end: date, instance_parameters: Mapping[str, Any]
) -> Any:
    uses = parse_text(text)
    if not uses:
        return text
    if len(uses) == 1 and uses[0].whole_value and isinstance(uses[0].placeholder, InstanceRef):
        return instance_parameters[uses[0].placeholder.parameter]

    def substitute(match: re.Match[str]) -> str:
        placeholder = _parse_placeholder(match.group(0), match.group(1).strip())
        if isinstance(placeholder, WeekRef):
            return placeholder.resolve(week_start, week_end).isoformat()
        value = instance_parameters[placeholder.parameter]
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(substitute, text)


def _embeddable(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)
