"""Checks of single values, and the plumbing that lets validators report several errors at once."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BeforeValidator, ValidationError
from pydantic_core import InitErrorDetails

from amc_reports.amc_sql import statement_count, without_trailing_semicolon
from amc_reports.config.errors import CONFIG_ERROR_TYPE, problem
from amc_reports.config.rules import SAFE_NAME, SAFE_NAME_RULE

_Names = TypeVar("_Names", list[str], tuple[str, ...])
_Validated = TypeVar("_Validated")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def name_check(kind: str) -> BeforeValidator:
    """A report name or instance alias, checked in full (`re.match` + `$` would take "r\\n")."""

    def check(value: Any) -> Any:
        if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
            raise problem(
                f"{kind} must match {SAFE_NAME_RULE}; it becomes part of table, asset and "
                "pool names"
            )
        return value

    return BeforeValidator(check)


def lower(value: Any) -> Any:
    """Case-insensitive words (`Sunday`), before their Literal is checked."""
    return value.strip().lower() if isinstance(value, str) else value


def upper(value: Any) -> Any:
    """Case-insensitive codes (`eu`), before their Literal is checked."""
    return value.strip().upper() if isinstance(value, str) else value


def start_date_value(value: Any) -> Any:
    """`YYYY-MM-DD` text (the file's dates stay text) or a date, as a date."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise problem(f"must be a date like 2026-01-04 (got {value!r})")


class NotJson(ValueError):
    """A parameter value that is not a JSON value; the message says what it is."""


def json_value(value: Any) -> Any:
    """A parameter value AMC can take: JSON text, numbers, booleans, null, lists, mappings.

    A date (`!!timestamp`) becomes its ISO text; bytes, sets, NaN and infinities raise NotJson.
    """
    if isinstance(value, datetime):
        raise NotJson(f"write date-times as quoted text (got {value!r})")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(f"must be a finite number (got {value!r})")
        return value
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise NotJson(f"keys inside a parameter must be text (got {bad[0]!r})")
        return {k: json_value(v) for k, v in value.items()}
    raise NotJson(
        "must be text, a number, true/false, null, or a list or mapping of those "
        f"(got {type(value).__name__})"
    )


def json_parameters(
    parameters: dict[str, Any], errors: list[tuple[tuple[Any, ...], str]]
) -> dict[str, Any]:
    """`parameters` with JSON values; a value that is not JSON is an error and left out."""
    checked = {}
    for name, value in parameters.items():
        try:
            checked[name] = json_value(value)
        except NotJson as exc:
            errors.append(((name,), str(exc)))
    return checked


# Characters Postgres cannot store in text: NUL, and the UTF-16 surrogates UTF-8 has no form for.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What in `text` Postgres cannot store (it would fail every run that writes it), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character (\\0)" if char == "\x00" else f"the lone surrogate U+{ord(char):04X}"
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    place = f"line {line}, column {column}" if "\n" in text else f"position {found.start() + 1}"
    return f"holds {what} at {place}, which Postgres cannot store: remove it"


def unstorable_values(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every text in `value` (a parsed document: mapping keys, values, list items, nested) that
    Postgres cannot store, with its location."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(value, str):
        bad = unstorable(value)
        if bad:
            found.append((loc, bad))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (bad := unstorable(key)):
                found.append(((*loc, key), f"has a key that {bad}"))
            found += unstorable_values(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += unstorable_values(item, (*loc, index))
    return found


def unique(values: _Names, what: str) -> _Names:
    twice = sorted(value for value, count in Counter(values).items() if count > 1)
    if twice:
        raise problem(f"lists {what} {', '.join(map(repr, twice))} more than once")
    return values


def raise_all(errors: list[tuple[tuple[Any, ...], str]], input_value: Any) -> None:
    """Raise every `(relative location, message)` at once (pydantic prefixes the field)."""
    if errors:
        raise ValidationError.from_exception_data(
            "reports file",
            [
                InitErrorDetails(type=problem(message), loc=loc, input=input_value)
                for loc, message in errors
            ],
        )


def checked_sql(sql: str) -> str:
    """One statement without its trailing ';' (AMC refuses it), or a problem."""
    # AMC rejects a trailing semicolon; dropping it here is what the analyst meant.
    sql = without_trailing_semicolon(sql.strip())
    statements = statement_count(sql)
    if statements == 0:
        raise problem("is empty")
    if statements > 1:
        raise problem("must hold one SQL statement (found ';')")
    return sql


def detail(loc: tuple[Any, ...], message: str, input_value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=problem(message), loc=loc, input=input_value)


def redetail(error: Any) -> InitErrorDetails:
    """An error pydantic reported, in the form that can be raised again with others."""
    if error["type"] == CONFIG_ERROR_TYPE:
        return detail(error["loc"], error["ctx"]["message"], error["input"])
    again = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
    if "ctx" in error:
        again["ctx"] = error["ctx"]
    return again


def validated_together(
    handler: Callable[[Any], _Validated], data: Any, errors: list[InitErrorDetails]
) -> _Validated:
    """`handler(data)`, its validation errors raised together with `errors` (problems a
    validator found before it), so that a file's problems are all reported at once."""
    try:
        result = handler(data)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title, [*map(redetail, exc.errors()), *errors]
        ) from None
    if errors:
        raise ValidationError.from_exception_data("reports file", errors)
    return result
