"""The AMC corpus: queries this project writes from AMC's documentation, run by `check-sql`.

Each file of `amc_reports_tests/amc_corpus/` is one AMC query (one or more per table and per
documented function, and queries AMC refuses), with its expected outcome in a header:

    -- <what it shows>
    -- doc: <the AMC documentation page it follows>
    -- expect: ok | refused
    -- columns: name TYPE, ...         (ok: the result's columns and AMC types, when given)
    -- rows: some | none               (ok: at least one row / no row)
    -- parameters: {"name": value}     (CUSTOM_PARAMETER values, JSON)
    -- error: line L, column C: text   (refused: what check-sql says, and where in the file)

One `amc-reports check-sql --all` run checks them all on one synthetic week (a generated reports
file naming each query as a report), as an analyst runs it; each query is then one test case.
The refused ones also go to the sandbox over HTTP: the FAILED execution names the same problem,
at the same place, as check-sql (AMC's `line L:C: text`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from amc_reports.amc import AmcApiError
from amc_reports_tests.amc_tests.helpers import wait_terminal
from amc_reports_tests.fixtures_sandbox import SandboxHandle

CORPUS = Path(__file__).resolve().parent.parent / "amc_corpus"
WEEK = "2026-11-01"  # a Sunday, long final: every conversion of it has arrived
IMPRESSIONS_PER_DAY = "10000"
_HEADER = re.compile(r"--\s*(doc|expect|columns|rows|parameters|error)\s*:\s*(.*\S)\s*$")


@dataclass(frozen=True)
class Entry:
    name: str
    expect: str
    columns: str | None = None
    rows: str | None = None
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def read_entry(path: Path) -> Entry:
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    expect = fields.get("expect")
    if expect not in ("ok", "refused"):
        raise ValueError(f"{path.name}: '-- expect: ok' or '-- expect: refused' is required")
    if expect == "refused" and "error" not in fields:
        raise ValueError(f"{path.name}: a refused query names its '-- error:'")
    return Entry(
        name=path.stem,
        expect=expect,
        columns=fields.get("columns"),
        rows=fields.get("rows"),
        error=fields.get("error"),
        parameters=json.loads(fields.get("parameters", "{}")),
    )


ENTRIES = [read_entry(path) for path in sorted(CORPUS.glob("*.sql"))]
REFUSED = [entry for entry in ENTRIES if entry.expect == "refused"]
INSTANCE = "amccorpus01"


def _reports_file(folder: Path) -> Path:
    sql = folder / "sql"
    sql.mkdir()
    lines = [
        "instances:",
        f"  us: {{instance_id: {INSTANCE}, advertiser_id: ENTITYCORPUS,",
        "       marketplace_id: ATVPDKIKX0DER, region: NA}",
        "reports:",
    ]
    for entry in ENTRIES:
        shutil.copy(CORPUS / f"{entry.name}.sql", sql / f"{entry.name}.sql")
        lines += [
            f"  {entry.name}:",
            "    instance: us",
            f"    sql_file: sql/{entry.name}.sql",
            "    start_date: 2026-03-01",
            "    timezone: America/New_York",
        ]
        if entry.parameters:
            lines.append(f"    parameters: {json.dumps(entry.parameters)}")
    path = folder / "reports.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """check-sql's answer per corpus query: its block of output (first line and what follows)."""
    config = _reports_file(tmp_path_factory.mktemp("amc_corpus"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "amc_reports.cli",
            "check-sql",
            "--all",
            "--config",
            str(config),
            "--week",
            WEEK,
            "--impressions-per-day",
            IMPRESSIONS_PER_DAY,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert "Traceback" not in done.stderr, done.stderr
    blocks = re.split(r"^amc/us/", done.stdout, flags=re.M)
    answers = {}
    for block in blocks[1:]:
        name, _, rest = block.partition(": ")
        answers[name] = rest
    missing = [entry.name for entry in ENTRIES if entry.name not in answers]
    assert not missing, f"check-sql said nothing of {missing}:\n{done.stdout}\n{done.stderr}"
    return answers


def test_the_corpus_covers_tables_functions_and_refusals():
    names = [entry.name for entry in ENTRIES]
    assert sum(entry.expect == "ok" for entry in ENTRIES) >= 20
    assert sum(entry.expect == "refused" for entry in ENTRIES) >= 5
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.name for entry in ENTRIES])
def test_check_sql_answers_as_the_header_says(entry: Entry, checked: dict[str, str]):
    answer = checked[entry.name]
    first = answer.splitlines()[0] if answer else ""
    if entry.expect == "refused":
        assert not first.startswith("ok,"), f"AMC refuses this query; check-sql ran it: {first}"
        # A query can break several rules (AMC's own SELECT * example also aggregates nothing):
        # check-sql lists them all, and this one among them.
        assert entry.error in answer, f"expected {entry.error!r}, check-sql said: {answer}"
        return
    assert first.startswith("ok, "), f"AMC runs this query; check-sql said: {answer}"
    rows = int(first.removeprefix("ok, ").split(" ", 1)[0])
    if entry.rows == "some":
        assert rows > 0, f"no row on a synthetic week: {first}"
    elif entry.rows == "none":
        assert rows == 0, first
    if entry.columns is not None:
        printed = [line for line in answer.splitlines()[1:] if line.startswith("    ")]
        expected = [c.strip() for c in re.split(r",(?![^()]*\))", entry.columns)]
        assert [" ".join(line.split()) for line in printed] == expected


def _in_amc_words(error: str) -> str:
    """check-sql's ``line L, column C: text`` as AMC writes a failure reason: ``line L:C: text``."""
    return re.sub(r"^line (\d+), column (\d+): ", r"line \1:\2: ", error)


@pytest.fixture
def corpus_instance(sandbox: SandboxHandle):
    sandbox.set_config(
        {
            "instances": {
                INSTANCE: {"rows": None, "latency_seconds": 0.2, "impressions_per_day": 10_000}
            }
        }
    )
    with sandbox.client() as amc:
        yield amc


@pytest.mark.parametrize("entry", REFUSED, ids=[entry.name for entry in REFUSED])
def test_the_sandbox_fails_a_refused_query_with_the_same_reason(entry: Entry, corpus_instance):
    sql = (CORPUS / f"{entry.name}.sql").read_text(encoding="utf-8")
    expected = _in_amc_words(entry.error)
    try:
        record = corpus_instance.create_execution(
            INSTANCE,
            sql=sql,
            time_window_start=f"{WEEK}T00:00:00",
            time_window_end="2026-11-08T00:00:00",
            time_zone="America/New_York",
        )
    except AmcApiError as exc:  # refused when the execution is created (not a SELECT, ...)
        assert expected in str(exc)
        return
    record = wait_terminal(corpus_instance, INSTANCE, record.execution_id, timeout=120)
    assert record.status == "FAILED", f"AMC refuses this query; the sandbox ran it: {record}"
    assert expected in (record.failure_reason or "")
