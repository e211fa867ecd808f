"""Write a reports file and load it, or collect the problems it is refused with."""

from __future__ import annotations

from pathlib import Path

import pytest

from amc_reports.config import ConfigError, ReportsConfig, load_config

INSTANCES = """
instances:
  us:
    instance_id: amc123
    advertiser_id: ENTITY1
    marketplace_id: ATVPDKIKX0DER
"""


def report(name: str = "r", **fields: str) -> str:
    """A minimal valid report entry; `fields` add or replace its YAML lines (None drops one)."""
    lines = {
        "instance": "us",
        "sql": "SELECT 1 AS a",
        "start_date": "2026-03-01",
    }
    lines.update(fields)
    body = "".join(f"    {key}: {value}\n" for key, value in lines.items() if value is not None)
    return f"  {name}:\n{body}"


def write(folder: Path, body: str | bytes, name: str = "reports.yaml") -> Path:
    path = folder / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


def load(folder: Path, body: str) -> ReportsConfig:
    return load_config(write(folder, body))


def problems_of(folder: Path, body: str | bytes, name: str = "reports.yaml") -> str:
    """The message a file is refused with; asserts it names the file (every error does)."""
    path = write(folder, body, name)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    return message
