"""The settings of this wave's other issues: parsed, validated, defaulted and typed here."""

import pytest

from amc_reports_tests.config_tests.helpers import INSTANCES, load, problems_of, report


def test_defaults(tmp_path):
    r = load(tmp_path, INSTANCES + "reports:\n" + report()).reports["r"]
    assert r.provisional_weeks == "skip"
    assert r.key_columns is None  # decided from the result's columns
    assert r.restatement_tolerance == 0.01
    assert r.history_retention == "keep" and r.history_retention_days is None
    assert r.max_attempts == 3


def test_values_are_typed(tmp_path):
    r = load(
        tmp_path,
        INSTANCES
        + "reports:\n"
        + report(
            provisional_weeks="Collect",
            key_columns="[campaign_id, event_date]",
            restatement_tolerance="0",
            history_retention="400",
            max_attempts="10",
        ),
    ).reports["r"]
    assert r.provisional_weeks == "collect"
    assert r.key_columns == ("campaign_id", "event_date")
    assert r.restatement_tolerance == 0.0 and isinstance(r.restatement_tolerance, float)
    assert r.history_retention == 400 and r.history_retention_days == 400
    assert r.max_attempts == 10


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("provisional_weeks", "later", "must be 'skip' or 'collect' (got 'later')"),
        ("key_columns", "[]", "must be a non-empty list of column names"),
        ("key_columns", '["campaign id"]', "must be a non-empty list of column names"),
        ("key_columns", "[a, b, a]", "lists column 'a' more than once"),
        ("key_columns", "campaign_id", "must be a non-empty list of column names"),
        ("restatement_tolerance", "1.5", "must be a fraction from 0 to 1 (0.01 = 1 %) (got 1.5)"),
        ("restatement_tolerance", "-0.01", "must be a fraction from 0 to 1"),
        ("restatement_tolerance", "true", "must be a fraction from 0 to 1"),
        ("restatement_tolerance", "1%", "must be a fraction from 0 to 1"),
        ("history_retention", "0", "must be 'keep' or a whole number of days from 1 to 3650"),
        ("history_retention", "3651", "must be 'keep' or a whole number of days from 1 to 3650"),
        ("history_retention", "forever", "must be 'keep' or a whole number of days"),
        ("max_attempts", "0", "must be a whole number from 1 to 10 (got 0)"),
        ("max_attempts", "11", "must be a whole number from 1 to 10 (got 11)"),
        ("max_attempts", "2.5", "must be a whole number from 1 to 10 (got 2.5)"),
    ],
)
def test_out_of_range_values_name_report_and_field(tmp_path, field, value, expected):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(**{field: value}))
    assert f"report 'r': field {field!r} {expected}" in message


SELECTS = '"SELECT campaign_id, sum(impressions) AS impressions, sum(clicks) AS clicks FROM t"'


def test_measures_default_to_none_and_name_selected_columns(tmp_path):
    r = load(tmp_path, INSTANCES + "reports:\n" + report()).reports["r"]
    assert r.measures is None  # decided from the result's columns
    r = load(
        tmp_path, INSTANCES + "reports:\n" + report(sql=SELECTS, measures="[impressions, clicks]")
    ).reports["r"]
    assert r.measures == ("impressions", "clicks")
    # A query whose columns its text does not name (`*`): checked at the load instead.
    r = load(
        tmp_path, INSTANCES + "reports:\n" + report(sql="SELECT * FROM t", measures="[spend]")
    ).reports["r"]
    assert r.measures == ("spend",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[]", "must be a non-empty list of column names"),
        ("[a, a]", "lists column 'a' more than once"),
        ("[spend, impressions, ctr]", "names 'spend', 'ctr', which the query does not select"),
    ],
)
def test_bad_measures_are_named(tmp_path, value, expected):
    message = problems_of(tmp_path, INSTANCES + "reports:\n" + report(sql=SELECTS, measures=value))
    assert f"report 'r': field 'measures' {expected}" in message
