"""Connection errors name AMC_REPORTS_DATABASE_URL and the target, never the password."""

from __future__ import annotations

import re
import socket
import traceback
from urllib.parse import quote

import pytest

from amc_reports.cli import main as amc_reports_cli
from amc_reports.environment import build_warehouse_resource, resolved
from amc_reports.warehouse import DatabaseConfigError, Warehouse
from amc_reports.warehouse.connection import describe_target, mask_url
from amc_reports_tests.support.warehouse import with_database

SECRET = "Hunter2-S3cret"


def _full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def warehouse_from_env() -> Warehouse:
    """The warehouse the commands and the definitions use, from the environment."""
    return resolved(build_warehouse_resource()).get_warehouse()


def url_from_env() -> str:
    return resolved(build_warehouse_resource()).unmigrated_warehouse().database_url


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://amc:{SECRET}@127.0.0.1:1/warehouse",
        f"postgresql://amc:{SECRET}@does-not-exist.invalid:5432/warehouse",
        f"host=127.0.0.1 port=1 dbname=warehouse user=amc password={SECRET}",
        f"postgresql://amc@127.0.0.1:1/warehouse?password={SECRET}",
    ],
)
def test_unreachable_server(url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
    with pytest.raises(DatabaseConfigError) as info:
        warehouse_from_env()
    text = _full_text(info.value)
    assert "AMC_REPORTS_DATABASE_URL" in str(info.value)
    assert "warehouse" in str(info.value)
    assert SECRET not in text
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://amc:{SECRET}@db.example.com/warehouse",
        f"not a url password={SECRET} and junk",
        f"postgresql://amc:{SECRET}@[bad-ipv6/warehouse",
    ],
)
def test_malformed_urls(url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
    with pytest.raises(DatabaseConfigError) as info:
        url_from_env()
    assert "AMC_REPORTS_DATABASE_URL" in str(info.value)
    assert SECRET not in _full_text(info.value)


def test_a_valid_url_is_returned_as_is(monkeypatch: pytest.MonkeyPatch, pg_url: str):
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", pg_url)
    assert url_from_env() == pg_url
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", "postgresql+psycopg://u:p@h:5/db")
    assert url_from_env() == "postgresql://u:p@h:5/db"


def test_mask_url():
    assert mask_url(f"postgresql://amc:{SECRET}@db:5432/w") == "postgresql://amc:***@db:5432/w"
    assert SECRET not in mask_url(f"postgresql://amc:{SECRET}@db/w?sslmode=require")
    assert mask_url("postgresql://amc@db/w") == "postgresql://amc@db/w"
    assert mask_url(f"host=db password='{SECRET}' dbname=w") == "host=db password=*** dbname=w"
    assert "Warehouse(" in repr(Warehouse(f"postgresql://a:{SECRET}@h/db"))
    assert SECRET not in repr(Warehouse(f"postgresql://a:{SECRET}@h/db"))


def test_with_database():
    assert with_database("postgresql://u:@/postgres?host=/tmp/x", "db1") == (
        "postgresql://u:@/db1?host=/tmp/x"
    )
    assert "dbname=db1" in with_database("host=/tmp/x dbname=postgres", "db1")


# Passwords holding what a URL reads as structure; every piece between those characters is
# distinctive, so that a password printed in part is caught too.
URL_SYNTAX_PASSWORDS = ["Pw1#Xq9k", "Pw2?Zk7m", "Pw3/Yh5n", "Pw4@Jm2p", "Aa1#Bb2?Cc3/Dd4@Ee5"]


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_not_shown(password: str, text: str) -> None:
    for shown in {password, quote(password, safe=""), quote(password)}:
        assert shown not in text
    for piece in re.split(r"[#?/@]", password):
        assert piece not in text, f"{piece!r} (part of the password) in: {text}"


def _url_forms(password: str, port: int) -> dict[str, str]:
    return {
        "url": f"postgresql://amc:{password}@127.0.0.1:{port}/warehouse",
        "encoded url": f"postgresql://amc:{quote(password, safe='')}@127.0.0.1:{port}/warehouse",
        "query": f"postgresql://amc@127.0.0.1:{port}/warehouse?password={quote(password)}",
        "raw query": f"postgresql://amc@127.0.0.1:{port}/warehouse?password={password}",
        "dsn": f"host=127.0.0.1 port={port} dbname=warehouse user=amc password='{password}'",
        "bare dsn": f"host=127.0.0.1 port={port} dbname=warehouse user=amc password={password}",
    }


@pytest.mark.parametrize("form", ["url", "encoded url", "query", "raw query", "dsn", "bare dsn"])
@pytest.mark.parametrize("password", URL_SYNTAX_PASSWORDS)
def test_password_with_url_syntax_is_never_printed(
    password: str, form: str, monkeypatch: pytest.MonkeyPatch
):
    url = _url_forms(password, _closed_port())[form]
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
    with pytest.raises(DatabaseConfigError) as from_env:
        warehouse_from_env()
    # The Dagster resource's path: a URL straight into Warehouse, no validation first.
    with pytest.raises(DatabaseConfigError) as direct:
        Warehouse(url).migrate()
    for err in (from_env.value, direct.value):
        _assert_not_shown(password, _full_text(err))
        assert "AMC_REPORTS_DATABASE_URL" in str(err)
    _assert_not_shown(password, mask_url(url) + describe_target(url) + repr(Warehouse(url)))
    libpq_misreads = form == "url" and ("/" in password or "@" in password)
    if libpq_misreads:
        # Refused before connecting, saying what is wrong and how to write it.
        assert "percent-encode" in str(from_env.value).lower()
        assert "postgresql://amc:***@127.0.0.1:" in str(from_env.value)
    else:
        # Read as written: the connection to the right server was tried, and refused.
        assert "cannot connect" in str(from_env.value)
        assert "host 127.0.0.1" in str(from_env.value) and "Connection refused" in str(
            from_env.value
        )


def test_password_with_url_syntax_is_never_printed_by_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    port = _closed_port()
    for password in URL_SYNTAX_PASSWORDS:
        url = f"postgresql://amc:{password}@127.0.0.1:{port}/warehouse"
        monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
        for command in (["migrate"], ["verify"]):
            assert amc_reports_cli(command) == 2
            out = capsys.readouterr()
            assert "error:" in out.err
            _assert_not_shown(password, out.out + out.err)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://127.0.0.1:{port}/warehouse?application_name=me@example",
        "postgresql://amc:Pw5x@127.0.0.1:{port}/warehouse?application_name=me@example",
    ],
)
def test_an_at_sign_in_the_query_is_not_taken_for_a_password(
    url: str, monkeypatch: pytest.MonkeyPatch
):
    url = url.format(port=_closed_port())
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
    with pytest.raises(DatabaseConfigError) as info:
        warehouse_from_env()
    assert "cannot connect" in str(info.value) and "me@example" in str(info.value)
    assert "Pw5x" not in _full_text(info.value)


def test_an_unquoted_password_with_a_space_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
):
    port = _closed_port()
    url = f"host=127.0.0.1 port={port} dbname=warehouse user=amc password=Pw6x Qx8z"
    monkeypatch.setenv("AMC_REPORTS_DATABASE_URL", url)
    with pytest.raises(DatabaseConfigError) as info:
        warehouse_from_env()
    assert "must be quoted (password='...')" in str(info.value)
    _assert_not_shown("Pw6x Qx8z", _full_text(info.value))
    assert "Pw6x" not in _full_text(info.value) and "Qx8z" not in _full_text(info.value)
