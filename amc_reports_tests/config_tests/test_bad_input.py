"""Issue 11, "Refuse bad input", the config cases: a clear located error, never a traceback.

Files that are accepted here are also loaded in Dagster by test_dagster_load.py.
"""

import os

import pytest

from amc_reports.config import ConfigError, load_config
from amc_reports_tests.config_tests.helpers import INSTANCES, load, problems_of, report, write

# -- an unquoted YAML date under `parameters` ------------------------------------------------------


def test_unquoted_date_parameter_is_kept_as_written(tmp_path):
    unquoted = load(tmp_path, INSTANCES + "reports:\n" + report(parameters="{since: 2026-03-01}"))
    quoted = load(tmp_path, INSTANCES + "reports:\n" + report(parameters='{since: "2026-03-01"}'))
    assert unquoted.reports["r"].parameters == {"since": "2026-03-01"}
    assert unquoted.reports["r"].query_fingerprint == quoted.reports["r"].query_fingerprint


def test_explicit_timestamp_tags_are_iso_text_or_refused(tmp_path):
    config = load(
        tmp_path,
        INSTANCES + "reports:\n" + report(parameters="{since: !!timestamp 2026-03-01, n: [1]}"),
    )
    assert config.reports["r"].parameters == {"since": "2026-03-01", "n": [1]}
    assert len(config.reports["r"].query_fingerprint) == 64
    message = problems_of(
        tmp_path,
        INSTANCES + "reports:\n" + report(parameters="{at: !!timestamp 2026-03-01 10:00:00}"),
    )
    assert "report 'r': field 'parameters.at': write date-times as quoted text" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("!!binary aGVsbG8=", "(got bytes)"),
        ("!!set {a, b}", "(got set)"),
        (".nan", "must be a finite number"),
        ("-.inf", "must be a finite number"),
    ],
)
def test_parameter_values_must_be_json(tmp_path, value, expected):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(parameters=f"{{x: {value}}}"))
    assert "report 'r': field 'parameters.x'" in message and expected in message


# -- anchors and aliases -------------------------------------------------------------------------


def test_billion_laughs_fails_fast_with_a_clear_error(tmp_path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):  # 9 ** 9 strings once expanded
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    message = problems_of(tmp_path, "\n".join(lines) + "\n")
    assert "expands to more than 200,000 values" in message


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    body = INSTANCES + "reports:\n" + report(parameters="&p {x: [1, *p]}")
    message = problems_of(tmp_path, body)
    assert (
        "report 'r': field 'parameters.x[1]': line 12: an alias refers to a node containing it"
        in (message)
    )


def test_deep_nesting_is_refused(tmp_path):
    assert "nested deeper than 40 levels" in problems_of(
        tmp_path, INSTANCES + "reports:\n" + report(parameters="{x: " + "[" * 50 + "]" * 50 + "}")
    )
    too_deep_for_the_parser = problems_of(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "not valid YAML" in too_deep_for_the_parser and "nest" in too_deep_for_the_parser


def test_ordinary_anchors_and_merge_keys_work(tmp_path):
    config = load(
        tmp_path,
        INSTANCES
        + "x-defaults: &defaults\n  start_date: 2026-03-01\n  lag_days: 7\n"
        + "reports:\n"
        + "  a:\n    <<: *defaults\n    instance: us\n    sql: SELECT 1 AS a\n"
        + "  b:\n    <<: *defaults\n    lag_days: 3\n    instance: us\n    sql: SELECT 2 AS b\n",
    )
    assert [r.lag_days for r in config.reports.values()] == [7, 3]


# -- start dates near year 1 or 9999 -------------------------------------------------------------


@pytest.mark.parametrize("start", ["0001-01-07", "1999-12-26", "2100-01-03", "9999-12-26"])
def test_start_dates_out_of_range_are_refused(tmp_path, start):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(start_date=start))
    assert f"report 'r': field 'start_date' {start} is out of range: from 2018-01-01" in message
    assert "to 2099-12-31" in message


@pytest.mark.parametrize("start", ["2018-01-07", "2099-12-27"])  # the Sundays nearest the bounds
def test_start_dates_at_the_bounds_load(tmp_path, start):
    config = load(tmp_path, INSTANCES + "reports:\n" + report(start_date=start))
    assert config.reports["r"].start_date.isoformat() == start


# -- files that are not UTF-8, or are folders ----------------------------------------------------


def test_config_file_not_utf8(tmp_path):
    body = (INSTANCES + "reports:\n" + report(description="Caf\xe9")).encode("latin-1")
    message = problems_of(tmp_path, body)
    assert "the reports file is not UTF-8 text (byte 0xe9 at offset" in message


def test_config_file_with_a_byte_order_mark_loads(tmp_path):
    body = ("\ufeff" + INSTANCES + "reports:\n" + report(description="Café")).encode()
    config = load_config(write(tmp_path, body))
    assert config.reports["r"].description == "Café"


def test_config_path_is_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="the reports file is a folder, not a file"):
        load_config(tmp_path)


def test_sql_file_not_utf8(tmp_path):
    (tmp_path / "q.sql").write_bytes(b"SELECT '\xff' AS a")
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(sql=None, sql_file="q.sql"))
    assert f"report 'r': field 'sql_file' cannot be read: {tmp_path / 'q.sql'} is not UTF-8" in (
        message
    )


def test_sql_file_is_a_folder_or_a_pipe(tmp_path):
    (tmp_path / "queries").mkdir()
    os.mkfifo(tmp_path / "pipe.sql")  # reading it would block forever
    body = INSTANCES + "reports:\n" + report("a", sql=None, sql_file="queries")
    body += report("b", sql=None, sql_file="pipe.sql")
    message = problems_of(tmp_path, body)
    assert "report 'a': field 'sql_file' cannot be read: " in message
    assert "queries is a folder, not a file" in message
    assert "pipe.sql is not a regular file" in message


# -- time zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America", "'America' is a group of time zones, not one"),
        ("America/", "'America/' is a group of time zones, not one"),
        ("localtime", "'localtime' is not an IANA time zone"),
        ("../etc/passwd", "'../etc/passwd' is not an IANA time zone"),
        ("UTC ", "'UTC ' is not an IANA time zone"),
    ],
)
def test_time_zone_must_be_a_zone(tmp_path, zone, expected):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(timezone=f'"{zone}"'))
    assert f"report 'r': field 'timezone' {expected}" in message


# -- mapping keys --------------------------------------------------------------------------------


def test_non_scalar_keys_are_named(tmp_path):
    body = INSTANCES + "reports:\n  ? [a, b]\n  : {instance: us}\n"
    message = problems_of(tmp_path, body)
    assert "field 'reports': line 8: a key must be a plain name, not a list" in message


def test_unquoted_placeholder_gets_a_hint(tmp_path):
    body = INSTANCES + "reports:\n" + report(parameters="\n      since: {{week_start}}")
    message = problems_of(tmp_path, body)
    assert "report 'r': field 'parameters.since': line 13: a key must be a plain name" in message
    assert 'quote values that start with "{"' in message


def test_non_text_keys_are_refused(tmp_path):
    body = INSTANCES.replace("  us:", "  1:") + "reports:\n  2026-03-01:\n    instance: us\n"
    message = problems_of(tmp_path, body)
    assert "instance 1: alias must match" in message
    assert "report '2026-03-01': name must match" in message


# -- names with a trailing newline ---------------------------------------------------------------


def test_names_with_a_trailing_newline_are_refused(tmp_path):
    body = INSTANCES.replace("  us:", '  "us\\n":') + 'reports:\n  "r\\n":\n    instance: us\n'
    message = problems_of(tmp_path, body)
    assert "instance 'us\\n': alias must match" in message
    assert "report 'r\\n': name must match" in message


# -- sql_file outside the project's folder -------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "q.sql").write_text("SELECT 1 AS shared")
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


def test_sql_file_outside_the_project_is_refused(project):
    (project / "link.sql").symlink_to(project.parent / "shared" / "q.sql")
    body = INSTANCES + "reports:\n" + report("a", sql=None, sql_file="../shared/q.sql")
    body += report("b", sql=None, sql_file=str(project.parent / "shared" / "q.sql"))
    body += report("c", sql=None, sql_file="link.sql")
    message = problems_of(project, body)
    for name in ("a", "b", "c"):
        assert f"report {name!r}: field 'sql_file' " in message
    assert message.count(f"is outside the project folder ({project})") == 3
    assert "list its folder under 'sql_folders'" in message


def test_sql_folders_allow_a_shared_folder(project):
    body = "sql_folders: [../shared]\n" + INSTANCES + "reports:\n"
    body += report(sql=None, sql_file="../shared/q.sql")
    config = load(project, body)
    assert config.reports["r"].sql == "SELECT 1 AS shared"
    assert "field 'sql_folders[0]': '../nowhere' is not a folder" in problems_of(
        project, body.replace("../shared]", "../nowhere]")
    )


# -- whatever the content: a ConfigError, never another exception --------------------------------

ODD_FILES = [
    "",
    "42\n",
    "[]\n",
    "instances: 5\nreports: []\n",
    "instances: {us: []}\nreports: {r: null}\n",
    INSTANCES + "reports:\n  r:\n    parameters: [1, 2]\n",
    INSTANCES + "reports:\n  r:\n    instances: {tag: [1]}\n    owners: {a: 1}\n",
    INSTANCES + "reports:\n  r:\n    instance: [us]\n    start_date: [2026-03-01]\n",
    INSTANCES + "reports:\n  r:\n    week_starts_on: null\n    start_date: 2026-03-01\n",
    INSTANCES + "reports:\n  r:\n    sql_file: {a: 1}\n    timezone: [UTC]\n",
    INSTANCES + "reports:\n  r:\n    start_date: !!binary aGVsbG8=\n",
    INSTANCES + "reports:\n  r: !!python/object:os.system {}\n",
    INSTANCES + 'reports:\n  r:\n    sql_file: "\\0x"\n',
    'sql_folders: ["\\0"]\n' + INSTANCES,
    "\x00\x01\x02",
    "a: *undefined\n",
    "{",
]


@pytest.mark.parametrize("body", ODD_FILES)
def test_odd_files_raise_config_errors(tmp_path, body):
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, body))


# -- text Postgres cannot store ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"parameters": '{brand: "Ac\\0me"}'}, "report 'r': field 'parameters.brand': holds a NUL"),
        (
            {"parameters": '{since: "{{week_start - 28d}}\\x00"}'},
            "report 'r': field 'parameters.since': holds a NUL",
        ),
        (
            {"parameters": '{ids: [1, "2\\0"]}'},
            "report 'r': field 'parameters.ids[1]': holds a NUL",
        ),
        ({"parameters": '{"k\\0": 1}'}, "field 'parameters.k\\x00': has a key that holds a NUL"),
        ({"sql": '"SELECT 1 AS a\\0"'}, "report 'r': field 'sql' holds a NUL character"),
        ({"description": '"about\\0"'}, "report 'r': field 'description' holds a NUL character"),
    ],
)
def test_a_nul_anywhere_is_refused_where_it_is_written(tmp_path, fields, expected):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(**fields))
    assert expected in message, message
    assert "Postgres cannot store: remove it" in message


def test_a_nul_is_refused_with_the_files_other_problems(tmp_path):
    instances = INSTANCES + '    parameters: {brand: "x\\0"}\n'
    message = problems_of(tmp_path, instances + "reports:\n" + report(lag_days="-1"))
    assert "instance 'us': field 'parameters.brand': holds a NUL character" in message
    assert "report 'r': field 'lag_days' must be" in message


def test_a_nul_in_an_sql_file_names_the_file_the_report_and_the_field(tmp_path):
    (tmp_path / "q.sql").write_bytes(b"SELECT 1\nAS a\0b")
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(sql=None, sql_file="q.sql"))
    assert (
        f"report 'r': field 'sql_file' cannot be read: {tmp_path / 'q.sql'} holds a NUL "
        "character (\\0) at line 2, column 5"
    ) in message


def test_validate_config_refuses_a_nul_in_a_parameter(tmp_path, capsys):
    from amc_reports.cli import main

    path = write(tmp_path, INSTANCES + "reports:\n" + report(parameters='{x: "a\\0b"}'))
    assert main(["validate-config", "--config", str(path)]) == 1
    out = capsys.readouterr()
    shown = out.out + out.err
    assert str(path) in shown and "report 'r': field 'parameters.x': holds a NUL" in shown
