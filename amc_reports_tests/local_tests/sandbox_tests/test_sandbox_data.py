"""Sandbox results (deterministic, shaped by the query) and request validation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests

from amc_reports.local.sandbox import (
    SANDBOX_CLIENT_ID,
)
from amc_reports.local.sandbox.synth import (
    DEFAULT_COLUMNS,
    ResultSpec,
    render_part,
    select_columns,
)
from amc_reports_tests.amc_tests.helpers import (
    INSTANCE,
    SQL,
    create,
    parse_day,
    read_result,
    rows_of,
    sandbox_token_response,
    wait_terminal,
    week,
)


@pytest.mark.parametrize(
    ("sql", "columns"),
    [
        ("SELECT a, b FROM t", ["a", "b"]),
        ("select x.a AS first, SUM(y) total, t.col FROM t", ["first", "total", "col"]),
        (
            "WITH w AS (SELECT 1 AS inner_col FROM t) SELECT DISTINCT campaign, "
            'COUNT(DISTINCT user_id) AS "Reach" FROM w GROUP BY 1',
            ["campaign", "Reach"],
        ),
        ("SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, b AS bee FROM t", ["_col0", "bee"]),
        (
            "SELECT -- comment, with comma\n a /* , b */, f(c, d) AS cd FROM t UNION ALL "
            "SELECT z, y FROM u",
            ["a", "cd"],
        ),
        ("SELECT 'a,b' AS s, CAST(x AS VARCHAR) AS x2 FROM t", ["s", "x2"]),
        ("SELECT * FROM t", DEFAULT_COLUMNS),
        ("not sql at all", DEFAULT_COLUMNS),
    ],
)
def test_select_columns(sql, columns):
    assert select_columns(sql) == columns


def test_values_are_plausible_for_their_names():
    sql = (
        "SELECT event_date, campaign_id, campaign_name, impressions, clicks, total_cost, "
        "ctr, is_filtered, device_type, event_time FROM t"
    )
    spec = ResultSpec("i", sql, "2024-03-03T00:00:00", "2024-03-10T00:00:00", rows=200)
    rows = rows_of(render_part(spec, 0))
    assert rows[0] == select_columns(sql)
    for r in rows[1:]:
        assert date(2024, 3, 3) <= parse_day(r[0]) <= date(2024, 3, 9)
        assert r[1].isdigit() and len(r[1]) == 15
        assert r[2].startswith("Campaign ")
        assert int(r[3]) >= int(r[4]) >= 0
        assert len(r[5].split(".")[1]) == 2
        assert 0 <= float(r[6]) <= 1
        assert r[7] in ("true", "false")
        assert r[8] in ("Desktop", "Mobile", "Tablet", "TV", "Other")
        assert r[9].startswith("2024-03-0")


def test_parts_split_the_same_rows():
    base = ResultSpec("i", SQL, "2024-03-03T00:00:00", "2024-03-10T00:00:00", rows=2500)
    whole = render_part(base, 0)
    split = ResultSpec(**{**base.__dict__, "parts": 4})
    parts = [render_part(split, p) for p in range(4)]
    header = whole.split(b"\n", 1)[0] + b"\n"
    assert all(p.startswith(header) for p in parts)
    assert parts[0] + b"".join(p[len(header) :] for p in parts[1:]) == whole


def test_same_inputs_same_bytes_over_http(amc_client, sandbox):
    window = week(2)
    first = create(amc_client, window=window)
    second = create(amc_client, window=window)
    other = create(amc_client, window=week(5))
    for record in (first, second, other):
        wait_terminal(amc_client, INSTANCE, record.execution_id)
    a = read_result(amc_client, INSTANCE, first.execution_id)
    b = read_result(amc_client, INSTANCE, second.execution_id)
    c = read_result(amc_client, INSTANCE, other.execution_id)
    assert a == b
    assert a != c
    start, end = (parse_day(x[:10]) for x in week(5))
    for row in rows_of(c)[1:]:
        assert start <= parse_day(row[0]) < end


# -- validation (raw HTTP, to send exactly what other clients send) ------------------------------


@pytest.fixture
def raw(sandbox):
    token = sandbox_token_response(sandbox.base_url).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Amazon-Advertising-API-ClientId": SANDBOX_CLIENT_ID,
        "Amazon-Advertising-API-AdvertiserId": "ENTITYSANDBOX",
        "Amazon-Advertising-API-MarketplaceId": "ATVPDKIKX0DER",
    }
    url = f"{sandbox.base_url}/amc/reporting/{INSTANCE}/workflowExecutions"

    def post(body: dict | bytes, content_type: str | None = "application/json"):
        h = dict(headers)
        if content_type:
            h["Content-Type"] = content_type
        data = body if isinstance(body, bytes) else __import__("json").dumps(body).encode()
        return requests.post(url, data=data, headers=h, timeout=10)

    return post


def _body(**kw):
    start, end = week()
    body = {
        "workflow": {"sqlQuery": SQL},
        "timeWindowType": "EXPLICIT",
        "timeWindowStart": start,
        "timeWindowEnd": end,
        "timeWindowTimeZone": "America/New_York",
    }
    body.update(kw)
    return body


def test_accepts_what_amazons_sample_client_sends(raw, sandbox):
    start, end = week()
    resp = raw(
        _body(
            timeWindowStart=start + "Z",
            timeWindowEnd=end + "Z",
            ignoreDataGaps="True",
            workflowExecutionTimeoutSeconds="86400",
            requireSyntheticData="false",
            outputFormat="CSV",
        ),
        content_type=None,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "PENDING"
    assert body["timeWindowStart"] == start  # normalised, no Z
    assert body["ignoreDataGaps"] is True
    assert body["workflowExecutionTimeoutSeconds"] == 86400
    assert resp.headers["Location"].endswith(body["workflowExecutionId"])


def _months_ago(n: int) -> date:
    return date.today() - timedelta(days=31 * n)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"timeWindowStart": "2024-01-01"}, "format"),
        ({"timeWindowStart": "2024-01-01T00:00:00.000Z"}, "format"),
        ({"timeWindowStart": "2024-01-01T00:00:00+01:00"}, "format"),
        ({"timeWindowEnd": "2024-13-01T00:00:00"}, "not a valid"),
        ("swap", "must be after"),
        ("future", "future"),
        ("old", "retention"),
        ({"workflow": {"sqlQuery": SQL + " ;"}}, "semicolon"),
        ({"workflow": {"sqlQuery": "   "}}, "empty"),
        ({"workflow": {"sqlQuery": "SELECT 1 AS a FROM t; SELECT 2 AS b FROM t"}}, "single"),
        ({"workflow": {"sqlQuery": "DROP TABLE t"}}, "SELECT"),
        ({"workflow": None, "workflowId": "does_not_exist"}, "does not exist"),
        ({"timeWindowTimeZone": "Mars/Olympus"}, "TimeZone"),
        ({"ignoreDataGaps": "maybe"}, "ignoreDataGaps"),
        ({"workflowExecutionTimeoutSeconds": "soon"}, "workflowExecutionTimeoutSeconds"),
        (
            {"workflow": {"sqlQuery": "SELECT a FROM t WHERE b = CUSTOM_PARAMETER('x')"}},
            "Missing value",
        ),
    ],
)
def test_validation_errors(raw, sandbox, overrides, needle):
    start, end = week()
    if overrides == "swap":
        overrides = {"timeWindowStart": end, "timeWindowEnd": start}
    elif overrides == "future":
        tomorrow = date.today() + timedelta(days=2)
        overrides = {"timeWindowEnd": f"{tomorrow}T00:00:00"}
    elif overrides == "old":
        overrides = {"timeWindowStart": f"{_months_ago(14)}T00:00:00"}
    body = _body(**overrides)
    if body.get("workflow") is None:
        body.pop("workflow", None)
    resp = raw(body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["code"] == "400"
    assert needle.lower() in error["details"].lower(), error["details"]
    assert sandbox.executions() == []


def test_invalid_json_is_a_400(raw):
    resp = raw(b"{not json")
    assert resp.status_code == 400 and "JSON" in resp.json()["details"]


def test_admin_config_is_validated(sandbox):
    resp = requests.put(f"{sandbox.base_url}/_sandbox/config", json={"fail_rat": 1}, timeout=10)
    assert resp.status_code == 400 and "fail_rat" in resp.json()["details"]
    resp = requests.put(
        f"{sandbox.base_url}/_sandbox/config",
        json={"instances": {"x": {"token_expires_in": 5}}},
        timeout=10,
    )
    assert resp.status_code == 400 and "globally" in resp.json()["details"]
