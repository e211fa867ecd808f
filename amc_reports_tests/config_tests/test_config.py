"""The reports file: defaults, fields and the errors an analyst sees (all at once, located)."""

import pytest

from amc_reports.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from amc_reports_tests.config_tests.helpers import INSTANCES, problems_of, write


def test_shipped_config_loads_and_every_report_has_sql():
    config = load_config(DEFAULT_CONFIG_PATH)
    assert len(config.reports) >= 3
    for report in config.reports.values():
        assert report.sql and not report.sql.endswith(";")
        assert report.description and report.owners
        assert report.start_date.weekday() == report.week_start_weekday


def test_minimal_report_gets_defaults(tmp_path):
    config = load_config(
        write(
            tmp_path,
            INSTANCES
            + """
reports:
  weekly:
    instance: us
    sql: SELECT campaign_id, SUM(impressions) AS impressions FROM t GROUP BY 1;
    start_date: 2026-03-01
""",
        )
    )
    report = config.reports["weekly"]
    assert report.lag_days == 14 and report.week_starts_on == "sunday"
    assert report.timezone == "UTC" and report.schedule is True
    assert report.sql.endswith("GROUP BY 1")  # the trailing semicolon AMC refuses is dropped
    assert report.instance.pool == "amc_us"


def test_sql_file_is_read_relative_to_the_config(tmp_path):
    (tmp_path / "q.sql").write_text("SELECT 1 AS one")
    config = load_config(
        write(
            tmp_path,
            INSTANCES + "reports:\n  r:\n    instance: us\n    sql_file: q.sql\n"
            "    start_date: 2026-03-01\n",
        )
    )
    assert config.reports["r"].sql == "SELECT 1 AS one"


def test_fingerprint_changes_with_sql_and_parameters(tmp_path):
    body = (
        INSTANCES + "reports:\n  r:\n    instance: us\n    sql: {sql}\n    start_date: 2026-03-01\n"
    )
    a = load_config(write(tmp_path, body.format(sql="SELECT 1 AS a"))).reports["r"]
    b = load_config(write(tmp_path, body.format(sql="SELECT 2 AS a"))).reports["r"]
    c = load_config(
        write(tmp_path, body.format(sql="SELECT 1 AS a") + "    parameters: {x: 1}\n")
    ).reports["r"]
    assert len({a.query_fingerprint, b.query_fingerprint, c.query_fingerprint}) == 3


def test_all_problems_reported_at_once_with_report_and_field(tmp_path):
    message = problems_of(
        tmp_path,
        INSTANCES
        + """
reports:
  bad:
    instance: nowhere
    sql: "  "
    start_date: 2026-03-03
    week_starts_on: friday
    timezone: Mars/Olympus
    lag_days: -1
    colour: blue
    owners: [somebody]
""",
    )
    assert "report 'bad': field 'instance' names unknown instance 'nowhere' (known: us)" in message
    assert "report 'bad': field 'sql' is empty" in message
    assert "field 'week_starts_on' must be 'sunday' or 'monday'" in message
    assert "field 'timezone' 'Mars/Olympus' is not an IANA time zone" in message
    assert "field 'lag_days'" in message
    assert "unknown field 'colour'" in message
    assert "owner 'somebody'" in message


def test_start_date_must_be_a_week_start(tmp_path):
    message = problems_of(
        tmp_path,
        INSTANCES + "reports:\n  r:\n    instance: us\n    sql: SELECT 1 AS a\n"
        "    start_date: 2026-03-03\n",
    )
    assert "2026-03-03 is not a sunday" in message
    assert "2026-03-01 or 2026-03-08" in message


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("    start_date: March 1st\n", "must be a date like"),
        ("    sql: SELECT 1; DROP TABLE x\n", "one SQL statement"),
        ("    sql_file: missing.sql\n", "cannot be read"),
        ("    workflow_id: wf\n", "exactly one of 'sql', 'sql_file' or 'workflow_id'"),
        ("    backfill_weeks_per_run: 11\n", "'backfill_weeks_per_run' must be a whole number"),
    ],
)
def test_field_errors(tmp_path, fragment, expected):
    base = "reports:\n  r:\n    instance: us\n    start_date: 2026-03-01\n"
    if "sql" not in fragment:
        base += "    sql: SELECT 1 AS a\n"
    if "start_date" in fragment:
        base = base.replace("    start_date: 2026-03-01\n", "")
    assert expected in problems_of(tmp_path, INSTANCES + base + fragment)


@pytest.mark.parametrize("name", ["Weekly", "weekly-report", "1st", "drop;table", "x" * 61])
def test_unsafe_report_names_are_refused(tmp_path, name):
    body = INSTANCES + f"reports:\n  '{name}':\n    instance: us\n    sql: SELECT 1 AS a\n"
    body += "    start_date: 2026-03-01\n"
    assert "name must match" in problems_of(tmp_path, body)


def test_duplicate_report_names_are_refused(tmp_path):
    report = "  r:\n    instance: us\n    sql: SELECT 1 AS a\n    start_date: 2026-03-01\n"
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report + report)
    assert "duplicate key 'r'" in message


def test_instance_fields_are_required(tmp_path):
    message = problems_of(
        tmp_path,
        "instances:\n  us:\n    instance_id: amc1\n    region: MARS\n"
        "reports:\n  r:\n    instance: us\n    sql: SELECT 1 AS a\n    start_date: 2026-03-01\n",
    )
    assert "instance 'us': field 'advertiser_id' is required" in message
    assert "instance 'us': field 'region' must be one of NA, EU, FE" in message


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="AMC_REPORTS_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path):
    assert "not valid YAML" in problems_of(tmp_path, "instances: [unclosed\n")


def test_fingerprint_is_unchanged_by_the_typed_model(tmp_path):
    """In-flight executions recorded before the typed model must still be found (resume key)."""
    body = INSTANCES + (
        "reports:\n  r:\n    instance: us\n    sql: |\n"
        "      SELECT campaign_id, SUM(impressions) AS impressions -- one; comment\n"
        "      FROM t GROUP BY 1;\n"
        "    start_date: 2026-03-01\n"
        '    parameters: {threshold: 5, names: [a, "b"], flag: true, ratio: 0.5, label: "x"}\n'
    )
    report = load_config(write(tmp_path, body)).reports["r"]
    # Computed by the untyped loader this package replaced, on the same file.
    expected = "ca7b9757626874dfa22f742074b075c8178966a964134352c3b08883a353106b"
    assert report.query_fingerprint == expected
    assert report.fingerprint_for(dict(report.parameters)) == expected


def test_every_kind_of_problem_is_located(tmp_path):
    message = problems_of(
        tmp_path,
        """
instances:
  us:
    instance_id: amc/1
    advertiser_id: ENTITY1
    marketplace_id: ATVPDKIKX0DER
    colour: red
reports:
  r:
    instance: us
    sql: SELECT 1 AS a
    workflow_id: wf
    start_date: 2026-03-01
    lag_days: "14"
    schedule: sometimes
    history_retention: forever
  s: 5
colour: blue
""",
    )
    assert "instance 'us': field 'instance_id' must be an AMC id" in message
    assert "instance 'us': unknown field 'colour'" in message
    assert "report 'r': exactly one of 'sql', 'sql_file' or 'workflow_id' is required" in message
    assert (
        "report 'r': field 'lag_days' must be a whole number of days from 0 to 90 (got '14')"
        in (message)
    )
    assert "report 'r': field 'schedule' must be true or false" in message
    assert "report 'r': field 'history_retention' must be 'keep' or a whole number of days" in (
        message
    )
    assert "report 's': must be a mapping of settings" in message
    assert "unknown top-level key 'colour'" in message
    assert "8 problem(s)" in message


def test_a_report_on_a_broken_instance_is_not_called_unknown(tmp_path):
    message = problems_of(
        tmp_path,
        "instances:\n  us:\n    instance_id: amc1\n"
        "reports:\n  r:\n    instance: us\n    sql: SELECT 1 AS a\n    start_date: 2026-03-01\n",
    )
    assert "instance 'us': field 'advertiser_id' is required" in message
    assert "unknown instance" not in message


@pytest.mark.parametrize(
    ("owner", "accepted"),
    [
        ("team:media-eu", True),
        ("Jane.Doe+amc@example.co.uk", True),
        ("a@b.c", False),  # Dagster wants a top-level domain of 2+ letters
        (".x@example.com", False),  # nor does it accept a leading dot
        ("x@example.com\n", False),
        ("team:", False),
    ],
)
def test_owners_are_what_dagster_accepts(tmp_path, owner, accepted):
    import dagster as dg

    quoted = owner.replace("\n", "\\n")  # a YAML double-quoted string
    body = INSTANCES + "reports:\n  r:\n    instance: us\n    sql: SELECT 1 AS a\n"
    body += f'    start_date: 2026-03-01\n    owners: ["{quoted}"]\n'
    if accepted:
        assert load_config(write(tmp_path, body)).reports["r"].owners == (owner,)
        dg.AssetSpec("x", owners=[owner])  # and Dagster agrees
    else:
        assert "must be an email address or 'team:<name>'" in problems_of(tmp_path, body)
        with pytest.raises(dg.DagsterInvalidDefinitionError):
            dg.AssetSpec("x", owners=[owner])


def test_config_error_is_the_only_exception(tmp_path):
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))
