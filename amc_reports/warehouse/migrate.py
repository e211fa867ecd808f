"""Versioned SQL migrations: `migrations/NNNN_name.sql`, applied in order, recorded in
`schema_migrations`.

All pending migrations are applied in one transaction under a transaction-level advisory lock, so
two processes migrating at once serialise: the second waits, then finds everything applied and does
nothing. The results schema is created in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from amc_reports.warehouse.locks import advisory_key

_log = logging.getLogger(__name__)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
MIGRATIONS_LOCK = advisory_key("amc_reports", "migrations")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files("amc_reports.warehouse").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(match.group(1), entry.name[:-4], entry.read_text("utf-8")))
    if not found:
        raise RuntimeError(
            f"no migrations found in {folder}: the package was installed without its .sql files "
            "(package data)"
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {folder}: {versions}")
    return found


def apply_migrations(conn: psycopg.Connection, *, results_schema: str) -> list[str]:
    """Apply the pending migrations on `conn` (not in autocommit); returns the names applied now."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATIONS_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in available_migrations():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    _log.warning(
                        "migration %s changed after it was applied; not re-applying it",
                        migration.name,
                    )
                continue
            _log.info("applying migration %s", migration.name)
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.name)
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(results_schema))
        )
    return applied_now
