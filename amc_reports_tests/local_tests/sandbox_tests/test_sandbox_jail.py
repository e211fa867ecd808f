"""The sandbox is a sandbox: a report's SQL (or any client of its API) cannot read the host, skip
the aggregation threshold, exhaust the machine or freeze the server, and the process holds no
secret of the product. Everything goes through the sandbox's real HTTP API, except the DuckDB
lock-down itself, which queries never reach past the parsed-query check (so it is tested on the
engine's own connection)."""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
import requests

from amc_reports.amc import AmcClient
from amc_reports.local.process import is_alive
from amc_reports.local.sandbox import query, sandbox_app, stop_sandbox
from amc_reports.local.sandbox.constants import MAX_BODY_BYTES, MAX_TOKEN_BODY_BYTES, TOKEN_PATH
from amc_reports_tests.amc_tests.helpers import TZ, read_result, rows_of, wait_terminal
from amc_reports_tests.fixtures_sandbox import SandboxHandle, start_test_sandbox

INSTANCE = "amcjailtest01"
_sunday = date.today() - timedelta(days=(date.today().weekday() + 1) % 7) - timedelta(weeks=5)
WINDOW = (f"{_sunday}T00:00:00", f"{_sunday + timedelta(days=7)}T00:00:00")
SQL_CONFIG = {"rows": None, "impressions_per_day": 2_000, "latency_seconds": 0.2}

NEVER_ENDS = (
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
)
TRIPLE_CROSS_JOIN = """
    SELECT a.event_id, b.event_id AS b, c.event_id AS c, COUNT(*) AS n
    FROM sponsored_ads_traffic a, sponsored_ads_traffic b, sponsored_ads_traffic c
    GROUP BY 1, 2, 3"""
NEEDS_MEMORY = """
    SELECT collect_list(a.event_id) AS ids FROM sponsored_ads_traffic a, sponsored_ads_traffic b"""


def _create(client: AmcClient, sql: str):
    return client.create_execution(
        INSTANCE, sql=sql, time_window_start=WINDOW[0], time_window_end=WINDOW[1], time_zone=TZ
    )


def _run(client: AmcClient, sql: str, timeout: float = 180):
    return wait_terminal(client, INSTANCE, _create(client, sql).execution_id, timeout=timeout)


@pytest.fixture
def client(sandbox: SandboxHandle):
    sandbox.set_config({"instances": {INSTANCE: SQL_CONFIG}})
    with sandbox.client() as amc:
        yield amc


@pytest.fixture
def limited(tmp_path: Path):
    """A sandbox of its own (it is stopped mid-query) with small query limits."""
    state_dir = tmp_path / "limited"
    box = start_test_sandbox(
        state_dir, {**SQL_CONFIG, "query_timeout_seconds": 5, "query_memory_mb": 64}
    )
    try:
        yield box
    finally:
        box.close()
        stop_sandbox(state_dir)


# -- no files, no network, no extensions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("relation", "named"),
    [
        ("read_text('/proc/self/environ')", "read_text"),
        ("read_csv('/etc/passwd', header = false)", "read_csv"),
        ("read_parquet('/tmp/data.parquet')", "read_parquet"),
        ("read_blob('/etc/hostname')", "read_blob"),
        ("query('SELECT 1')", "query"),
        ("range(10)", "range"),
        ("'/etc/passwd'", "`/etc/passwd`"),
        ("other_db.dsp_impressions", "other_db.dsp_impressions"),
        ("_traffic", "_traffic"),  # the engine's raw relations are no AMC table either
        ("TABLE(read_csv('/etc/passwd'))", "read_csv"),
        # AMC's one table function reads AMC's tables only
        ("TABLE(EXTEND_TIME_WINDOW('read_text', 'P1D', 'P0D'))", "read_text"),
    ],
)
def test_table_functions_and_unknown_relations_are_unknown_tables(client, relation, named):
    record = _run(client, f"SELECT COUNT(*) AS n FROM (SELECT * FROM {relation}) x")
    assert record.status == "FAILED"
    assert record.failure_reason.startswith("Query validation failed: ")
    assert f"Table '{named}' does not exist" in record.failure_reason


def test_the_engine_connection_refuses_files_network_extensions_and_settings():
    con = query._connect(threads=1, memory_mb=64)
    try:
        query._lock_down(con)
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access',"
                " 'autoinstall_known_extensions', 'autoload_known_extensions',"
                " 'allow_community_extensions', 'lock_configuration')"
            ).fetchall()
        )
        assert settings == {
            "enable_external_access": "false",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "allow_community_extensions": "false",
            "lock_configuration": "true",
        }
        refused = [
            "SELECT * FROM read_text('/proc/self/environ')",
            "SELECT * FROM read_csv('/etc/passwd')",
            "SELECT * FROM glob('/*')",
            "SELECT * FROM 'https://example.com/data.csv'",
            "COPY (SELECT 1) TO '/tmp/amc_jail_test.csv'",
            "ATTACH '/tmp/amc_jail_test.db'",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET memory_limit = '100GB'",
        ]
        for statement in refused:
            with pytest.raises(duckdb.Error):
                con.execute(statement).fetchall()
    finally:
        con.close()
    assert not Path("/tmp/amc_jail_test.csv").exists()


# -- the aggregation threshold holds for every query shape ----------------------------------------

# AMC accepts only aggregating queries: each row-level shape is read by one that groups its rows
# by user, so every result row covers one user.
ROW_LEVEL = {
    "lateral view": """
        WITH r AS (
            SELECT user_id, event_dt, x FROM sponsored_ads_traffic
            LATERAL VIEW explode(array(1, 2)) t AS x
        )
        SELECT user_id, event_dt, x, COUNT(*) AS n FROM r GROUP BY 1, 2, 3""",
    "distinct on": "SELECT DISTINCT ON (campaign) campaign, user_id FROM sponsored_ads_traffic",
    "window function": """
        WITH w AS (
            SELECT user_id, COUNT(*) OVER (PARTITION BY campaign) AS n FROM sponsored_ads_traffic
        )
        SELECT user_id, n, COUNT(*) AS rows_ FROM w GROUP BY 1, 2""",
}


@pytest.mark.parametrize("sql", ROW_LEVEL.values(), ids=ROW_LEVEL.keys())
def test_rows_of_few_users_are_dropped_whatever_the_shape(client, sql):
    record = _run(client, sql)
    assert record.status == "SUCCEEDED", record.failure_reason
    assert rows_of(read_result(client, INSTANCE, record.execution_id))[1:] == []


def test_an_aggregate_over_a_lateral_view_keeps_its_rows(client):
    record = _run(
        client,
        """SELECT x, COUNT(DISTINCT user_id) AS users FROM sponsored_ads_traffic
           LATERAL VIEW explode(array(1, 2)) t AS x GROUP BY x""",
    )
    assert record.status == "SUCCEEDED", record.failure_reason
    rows = rows_of(read_result(client, INSTANCE, record.execution_id))[1:]
    assert sorted(r[0] for r in rows) == ["1", "2"]
    assert all(int(r[1]) >= query.AGGREGATION_THRESHOLD for r in rows)


# -- limits: time, memory, a server that keeps answering, shutdown mid-query ----------------------


def _answers_within_a_second(box: SandboxHandle, app_name: str = "default") -> None:
    # A second on a quiet machine; five leave room for a busy 2-core one.
    health = requests.get(f"{box.base_url}/_sandbox/health", timeout=5)
    assert health.status_code == 200
    app = sandbox_app(app_name)
    token = requests.post(
        f"{box.base_url}{TOKEN_PATH}",
        data={
            "grant_type": "refresh_token",
            "refresh_token": app.refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
        timeout=5,
    )
    assert token.status_code == 200


def _wait_running(client: AmcClient, execution_id: str, box: SandboxHandle) -> None:
    """Until the execution is RUNNING past its planned time (its query is then running)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = client.get_execution(INSTANCE, execution_id)
        assert not record.is_terminal, record.failure_reason
        started = box.executions()[-1].get("started_at")
        if record.status == "RUNNING" and started and time.time() - started > 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} never ran")


def test_a_query_that_never_ends_fails_on_the_time_limit_while_the_server_answers(limited):
    with limited.client() as client:
        execution_id = _create(client, NEVER_ENDS).execution_id
        _wait_running(client, execution_id, limited)
        while not (record := client.get_execution(INSTANCE, execution_id)).is_terminal:
            _answers_within_a_second(limited)  # health and token, each within its 1 s timeout
        assert record.status == "FAILED"
        assert record.failure_reason == (
            "Query exceeded resource limits: it ran longer than 5 seconds"
        )
        # The worker is free again: the next query runs.
        after = _run(client, "SELECT COUNT(DISTINCT user_id) AS n FROM sponsored_ads_traffic")
        assert after.status == "SUCCEEDED", after.failure_reason


def test_checking_a_large_query_does_not_freeze_the_server(limited):
    """Parsing and binding ~100 KB of SQL takes seconds: it happens off the event loop."""
    sql = "SELECT " + " + ".join(["impressions"] * 8000) + " AS x FROM sponsored_ads_traffic"
    with limited.client() as client, ThreadPoolExecutor(1) as pool:
        creating = pool.submit(_create, client, sql)
        answered_meanwhile = 0
        while not creating.done():
            _answers_within_a_second(limited)
            answered_meanwhile += not creating.done()
        creating.result()  # created (its query then fails or runs: not the point here)
    assert answered_meanwhile > 0, "the create returned before any health check: no proof"


@pytest.mark.parametrize("sql", [TRIPLE_CROSS_JOIN, NEEDS_MEMORY], ids=["cross join", "memory"])
def test_queries_too_big_for_the_limits_fail(limited, sql):
    with limited.client() as client:
        record = _run(client, sql)
    assert record.status == "FAILED"
    assert record.failure_reason.startswith("Query exceeded resource limits: ")


def test_the_memory_limit_names_itself(limited):
    with limited.client() as client:
        record = _run(client, NEEDS_MEMORY)
    assert record.failure_reason == (
        "Query exceeded resource limits: it needed more than 64 MB of memory"
    )


def test_the_limits_are_configurable(limited):
    limited.set_config({"query_timeout_seconds": 2})
    with limited.client() as client:
        record = _run(client, NEVER_ENDS)
    assert record.failure_reason == "Query exceeded resource limits: it ran longer than 2 seconds"
    response = requests.put(
        f"{limited.base_url}/_sandbox/config", json={"query_memory_mb": 1}, timeout=30
    )
    assert response.status_code == 400
    assert "query_memory_mb" in response.json()["details"]


@pytest.mark.parametrize("how", ["POST /_sandbox/shutdown", "SIGTERM"])
def test_shutdown_works_mid_query(limited, how):
    limited.set_config({"query_timeout_seconds": 600})
    pid = limited.health()["pid"]
    with limited.client() as client:
        execution_id = _create(client, NEVER_ENDS).execution_id
        _wait_running(client, execution_id, limited)
    if how == "SIGTERM":
        os.kill(pid, signal.SIGTERM)  # the sandbox this test started, by its pid
    else:
        response = requests.post(f"{limited.base_url}/_sandbox/shutdown", json={}, timeout=5)
        assert response.status_code == 200
    deadline = time.monotonic() + 60
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_alive(pid), "the sandbox process is still there 60 s after shutdown"


# -- request bodies are capped --------------------------------------------------------------------


def _raw_request(base_url: str, head: str) -> bytes:
    """Send only a request head (no body) and read the answer: a cap decided before the body."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_declared_oversized_body_is_refused_before_it_is_sent(sandbox):
    host = urlsplit(sandbox.base_url).netloc
    for path in (TOKEN_PATH, f"/amc/reporting/{INSTANCE}/workflowExecutions"):
        answer = _raw_request(
            sandbox.base_url,
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 << 20}\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def _stream_past(base_url: str, head: str, cap: int) -> bytes:
    """Send a chunked body a little past ``cap`` and never finish it; return the answer. An
    answer at all means the server decided while the body was streaming in."""
    parts = urlsplit(base_url)
    chunk = b"x" * 4096
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(head.encode())
        sent = 0
        while sent <= cap:  # the last chunk takes it past the cap; nothing is left unread
            try:
                sock.sendall(framed)
            except OSError:  # the server already answered and closed the connection
                break
            sent += len(chunk)
        return sock.recv(4096)  # the body never ended: only a cap decided mid-stream answers


def test_a_streamed_oversized_body_is_refused_while_it_streams(sandbox):
    host = urlsplit(sandbox.base_url).netloc
    targets = (
        ("POST", TOKEN_PATH, MAX_TOKEN_BODY_BYTES),
        ("PUT", "/_sandbox/config", MAX_BODY_BYTES),
    )
    for method, path, cap in targets:
        answer = _stream_past(
            sandbox.base_url,
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            cap,
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_within_the_cap_is_served(sandbox):
    app = sandbox_app()
    response = requests.post(
        f"{sandbox.base_url}{TOKEN_PATH}",
        data={
            "grant_type": "refresh_token",
            "refresh_token": app.refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "padding": "x" * (MAX_TOKEN_BODY_BYTES // 2),
        },
        timeout=30,
    )
    assert response.status_code == 200


# -- the process holds no secret of the product ---------------------------------------------------


def test_the_sandbox_process_gets_only_the_environment_it_needs(tmp_path, monkeypatch):
    secrets = {
        "AMC_REPORTS_DATABASE_URL": "postgresql://app:pw@db.internal/amc",
        "AMC_REPORTS_NOTIFY_URLS": "slack://token-a/token-b",
        "AMC_CLIENT_SECRET": "live-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    state_dir = tmp_path / "env"
    box = start_test_sandbox(state_dir, SQL_CONFIG)
    try:
        pid = box.health()["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0].decode() for item in environ if item}
        assert names.isdisjoint(secrets), names & set(secrets)
        assert "PATH" in names
        assert not any(
            value.encode() in Path(f"/proc/{pid}/environ").read_bytes()
            for value in secrets.values()
        )
    finally:
        box.close()
        stop_sandbox(state_dir)
