"""Issue 13: parameters that follow the week and the instance, checked at load, resolved purely."""

from datetime import date

import pytest

from amc_reports.config import load_config, resolve_parameters
from amc_reports.paths import PROJECT_ROOT
from amc_reports_tests.config_tests.helpers import load, problems_of, report

WEEK = (date(2026, 3, 1), date(2026, 3, 7))  # a Sunday week: first and last day

TWO = """
instances:
  acme:
    instance_id: amc1
    advertiser_id: E1
    marketplace_id: M
    parameters: {brand_id: 42, brand: Acme, asins: [B01, B02]}
  globex:
    instance_id: amc2
    advertiser_id: E2
    marketplace_id: M
    parameters: {brand_id: 7, brand: Globex, asins: [B09]}
"""


def test_week_placeholders_and_offsets(tmp_path):
    parameters = (
        '{start: "{{week_start}}", end: "{{ week_end }}", back: "{{week_start - 28d}}",'
        ' ahead: "{{week_end + 1w}}", at: "{{week_start}}T00:00:00",'
        ' nested: {list: ["{{week_end - 6d}}", 3]}, plain: 5}'
    )
    config = load(tmp_path, TWO + "reports:\n" + report(instance="acme", parameters=parameters))
    r = config.reports["r"]
    assert r.is_templated
    assert resolve_parameters(r, r.instance, *WEEK) == {
        "start": "2026-03-01",
        "end": "2026-03-07",
        "back": "2026-02-01",
        "ahead": "2026-03-14",
        "at": "2026-03-01T00:00:00",
        "nested": {"list": ["2026-03-01", 3]},
        "plain": 5,
    }
    assert r.parameters["start"] == "{{week_start}}"  # the config itself is not changed


def test_instance_placeholders_resolve_per_instance(tmp_path):
    parameters = '{brand: "{{instance.brand_id}}", label: "{{instance.brand}} {{week_start}}",'
    parameters += ' asins: "{{instance.asins}}"}'
    body = TWO + "reports:\n" + report(instance=None, instances="all", parameters=parameters)
    r = load(tmp_path, body).reports["r"]
    acme, globex = r.instances
    assert resolve_parameters(r, acme, *WEEK) == {
        "brand": 42,  # the whole value: the instance's value as it is
        "label": "Acme 2026-03-01",
        "asins": ["B01", "B02"],
    }
    assert resolve_parameters(r, globex, *WEEK)["label"] == "Globex 2026-03-01"


def test_fingerprint_follows_the_resolved_values(tmp_path):
    parameters = '{since: "{{week_start - 28d}}", brand: "{{instance.brand_id}}"}'
    body = TWO + "reports:\n" + report(instance=None, instances="all", parameters=parameters)
    r = load(tmp_path, body).reports["r"]
    acme, globex = r.instances

    def fingerprint(instance, week):
        return r.fingerprint_for(resolve_parameters(r, instance, *week))

    next_week = (date(2026, 3, 8), date(2026, 3, 14))
    prints = {fingerprint(acme, WEEK), fingerprint(globex, WEEK), fingerprint(acme, next_week)}
    assert len(prints) == 3
    assert fingerprint(acme, WEEK) == fingerprint(acme, WEEK)  # pure
    # Without placeholders, every execution's fingerprint is the report's query_fingerprint.
    plain = load(tmp_path, TWO + "reports:\n" + report(instance="acme", parameters="{x: 1}"))
    p = plain.reports["r"]
    assert not p.is_templated
    assert p.fingerprint_for(resolve_parameters(p, p.instance, *WEEK)) == p.query_fingerprint


def test_resolve_refuses_an_instance_the_report_does_not_run_on(tmp_path):
    config = load(tmp_path, TWO + "reports:\n" + report(instance="acme"))
    with pytest.raises(ValueError, match="does not run on instance 'globex'"):
        resolve_parameters(config.reports["r"], config.instances["globex"], *WEEK)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"{{week_begin}}"', "'{{week_begin}}': unknown placeholder (known: week_start, week_end"),
        (
            '"{{week_start - 28}}"',
            "'{{week_start - 28}}': bad offset; write '{{week_start - 28d}}'",
        ),
        ('"{{week_end * 2}}"', "'{{week_end * 2}}': bad offset"),
        ('"{{week_start - 3661d}}"', "an offset of 3661 days is more than 3660"),
        ('"{{week_start + 600w}}"', "an offset of 4200 days is more than 3660"),
        ('"{{week_start"', "opens a placeholder with '{{' that is not closed with '}}'"),
        ('"{{instance.brand id}}"', "unknown placeholder"),
        ('"{{instance.missing}}"', "needs parameter 'missing' on instance 'acme'"),
        ('"x {{instance.asins}}"', "sits inside longer text, but instance 'acme' gives it"),
    ],
)
def test_bad_templates_name_report_field_and_parameter(tmp_path, value, expected):
    body = TWO + "reports:\n" + report(instance=None, instances="all", parameters=f"{{p: {value}}}")
    message = problems_of(tmp_path, body)
    assert "report 'r': field 'parameters.p': " in message and expected in message
    assert "1 problem(s)" in message


def test_every_instance_of_a_report_must_fill_its_placeholders(tmp_path):
    body = TWO.replace("parameters: {brand_id: 7, brand: Globex, asins: [B09]}", "tags: [x]")
    body += "reports:\n" + report(
        instance=None, instances="all", parameters='{b: "{{instance.brand}}"}'
    )
    message = problems_of(tmp_path, body)
    assert "needs parameter 'brand' on instance 'globex', which does not declare it" in message
    assert "on instance 'acme'" not in message


def test_instance_parameters_are_plain_and_named_like_identifiers(tmp_path):
    body = TWO.replace("brand: Globex,", 'brand: "{{week_start}}", brand-name: x,')
    message = problems_of(tmp_path, body + "reports:\n" + report(instance="acme"))
    assert "instance 'globex': field 'parameters.brand': instance parameters are plain" in message
    assert "instance 'globex': field 'parameters.brand-name': the name must be an identifier" in (
        message
    )


def test_agency_example_resolves(tmp_path):
    config = load_config(PROJECT_ROOT / "examples" / "agency.yaml")
    halo = config.reports["brand_halo"]
    acme = config.instances["acme_us"]
    assert resolve_parameters(halo, acme, *WEEK) == {
        "brand": "Acme",
        "asins": ["B0A49830B9", "B0DDBBEEA3"],
        "lookback_start": "2026-02-01",
    }
    window = resolve_parameters(config.reports["new_to_brand"], acme, *WEEK)
    assert window == {"window_end": "2026-03-07T23:59:59"}
