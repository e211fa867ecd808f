"""Connection errors name AMC_REPORTS_DATABASE_URL and the target, never the password."""

from __future__ import annotations

import traceback

import pytest

from amc_reports.environment import build_warehouse_resource, resolved
from amc_reports.warehouse import DatabaseConfigError, Warehouse
from amc_reports.warehouse.connection import mask_url, with_database

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
