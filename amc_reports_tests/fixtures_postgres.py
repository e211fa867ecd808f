"""Fixtures: a real PostgreSQL for the test session.

- `pg_url` (session): `AMC_REPORTS_TEST_DATABASE_URL` when set (a role that may CREATE DATABASE),
  else an embedded PostgreSQL (pgserver) in a temp folder, stopped and removed after the session.
- `fresh_database_url` (function): a new, empty database on that server, dropped after the test.
- `warehouse` (function): a migrated `Warehouse` on a fresh database, so tests never see each
  other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from amc_reports.local.postgres import EmbeddedPostgres
from amc_reports.warehouse import Warehouse
from amc_reports_tests.support.warehouse import with_database

TEST_DATABASE_URL_ENV = "AMC_REPORTS_TEST_DATABASE_URL"


def server_temp_dir(prefix: str = "amc_reports_pg_") -> Path:
    """A temp folder for a pgserver data directory, outside pytest's basetemp.

    As root, pgserver runs PostgreSQL as the `pgserver` user and opens up the data folder's parents
    for it. Every pytest session that starts (another engineer's, a subprocess's) resets
    `/tmp/pytest-of-<user>` to mode 0700, which would lock that user out of a data folder under it
    and crash the server mid-session ("could not stat data directory: Permission denied").
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres | None]:
    """The session's embedded server (None when `AMC_REPORTS_TEST_DATABASE_URL` is used)."""
    if os.environ.get(TEST_DATABASE_URL_ENV, "").strip():
        yield None
        return
    root = server_temp_dir()
    server = EmbeddedPostgres(root / "data", idle_stop_seconds=-1)
    try:
        server.uri()
        yield server
    finally:
        server.release()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_server: EmbeddedPostgres | None) -> str:
    """A libpq URL of a server on which the tests may create databases."""
    if pg_server is None:
        return os.environ[TEST_DATABASE_URL_ENV].strip()
    return pg_server.uri()


def create_database(admin_url: str, prefix: str = "amc_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def fresh_database_url(pg_url: str) -> Iterator[str]:
    """An empty database of its own (not migrated), dropped after the test."""
    name = create_database(pg_url)
    try:
        yield with_database(pg_url, name)
    finally:
        drop_database(pg_url, name)


@pytest.fixture
def warehouse(fresh_database_url: str) -> Warehouse:
    """A migrated warehouse on a fresh database."""
    store = Warehouse(fresh_database_url)
    store.migrate()
    return store
