"""The JSON schema editors use: shipped, current, and in agreement with the loader."""

import json

import jsonschema
import pytest

from amc_reports.cli import main
from amc_reports.config import ConfigError, load_config
from amc_reports.config.messages import written_fields
from amc_reports.config.schema import InstanceConfig, ReportConfig, ReportsConfig, json_schema_text
from amc_reports.config.yaml_source import read_document
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.config_tests.helpers import INSTANCES, report, write
from amc_reports_tests.support.reports import shipped_configs

SCHEMA_FILE = PROJECT_ROOT / "reports.schema.json"


def test_committed_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text() == json_schema_text(), (
        "reports.schema.json is stale: run `amc-reports config-schema > reports.schema.json`"
    )


def test_config_schema_command_prints_it(capsys):
    assert main(["config-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA_FILE.read_text())


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.name)
def test_shipped_files_point_editors_at_the_schema_and_pass_it(path):
    first_line = path.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first_line.startswith(prefix)
    assert (path.parent / first_line.removeprefix(prefix)).resolve() == SCHEMA_FILE
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator(schema).validate(read_document(path))
    load_config(path)


AGREEMENT = {
    "valid": report(),
    "unknown field": report(colour="blue"),
    "bad name": report("Bad-Name"),
    "missing start": report(start_date=None),
    "lag out of range": report(lag_days="91"),
    "lag as text": report(lag_days='"14"'),
    "bad week start": report(week_starts_on="friday"),
    "fan-out list": report(instance=None, instances="[us]"),
    "fan-out tag shape": report(instance=None, instances="{label: x}"),
    "tolerance above 1": report(restatement_tolerance="2"),
    "retention keep": report(history_retention="keep"),
    "retention text": report(history_retention="forever"),
    "bad owner type": report(owners="[1]"),
}


@pytest.mark.parametrize("name", AGREEMENT)
def test_schema_and_loader_agree(tmp_path, name):
    """What the editor marks as wrong, the loader refuses, and the other way round."""
    path = write(tmp_path, INSTANCES + "reports:\n" + AGREEMENT[name])
    schema = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    schema_ok = schema.is_valid(read_document(path))
    try:
        load_config(path)
        loader_ok = True
    except ConfigError:
        loader_ok = False
    assert schema_ok == loader_ok


def test_every_setting_is_documented():
    docs = (PROJECT_ROOT / "docs" / "config.md").read_text()
    for model in (ReportsConfig, InstanceConfig, ReportConfig):
        for name, info in written_fields(model).items():
            assert f"`{name}`" in docs, f"docs/config.md does not describe {name}"
            assert info.description, f"{model.__name__}.{name} has no description for editors"
