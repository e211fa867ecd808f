"""Versioned migrations: `migrations/NNNN_name.sql` or `NNNN_name.py`, applied in order, recorded
in `schema_migrations`.

All pending migrations are applied in one transaction under a transaction-level advisory lock, so
two processes migrating at once serialise: the second waits, then finds everything applied and does
nothing. The results schema is created in the same transaction.

A Python migration defines `upgrade(conn, context)`: for changes that depend on what is in the
database (each report's results table) or on the configuration (`MigrationContext`).

Every way in (`amc-reports migrate`, a process's first use of the warehouse, the tests) gives the
same inputs: the reports config's instance aliases (`instance_aliases`), or None when no config
was loaded. A migration that needs the config reads it from the context; without a config that
read refuses (`MigrationNeedsConfigError`, naming the migration and why) and nothing is applied.
A database that had no migration applied holds no data to name, so it needs no config.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from amc_reports.warehouse.connection import DatabaseConfigError
from amc_reports.warehouse.locks import advisory_key

_log = logging.getLogger(__name__)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")
MIGRATIONS_LOCK = advisory_key("amc_reports", "migrations")


class MigrationNeedsConfigError(DatabaseConfigError):
    """A pending migration needs the reports config to upgrade the data already stored, and no
    config was given; nothing was applied."""


@dataclass(frozen=True)
class MigrationContext:
    """What a Python migration may need beyond the connection."""

    results_schema: str
    history_schema: str
    # AMC instance id -> its alias in the reports config; None: no config was loaded.
    config_instance_aliases: Mapping[str, str] | None = None
    migration: str = ""  # the migration being applied (named when it refuses)

    @property
    def instance_aliases(self) -> Mapping[str, str]:
        """AMC instance id -> alias from the reports config: how rows written before weeks were
        keyed by instance learn theirs (an instance the config does not name keeps its id).
        Refuses when no config was given."""
        if self.config_instance_aliases is None:
            raise MigrationNeedsConfigError(
                f"migration {self.migration} names the AMC instance of the rows already stored "
                "by its alias in the reports config, and no config was loaded. Make the config "
                "load (AMC_REPORTS_CONFIG, or reports.yaml in the project; `amc-reports "
                "validate-config` shows what is wrong) and run `amc-reports migrate` again. "
                "Nothing was changed."
            )
        return self.config_instance_aliases


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    source: str
    kind: str  # "sql" or "py"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def apply(self, conn: psycopg.Connection, context: MigrationContext) -> None:
        if self.kind == "sql":
            conn.execute(self.source)
            return
        namespace: dict[str, Any] = {"__name__": f"amc_reports_migration_{self.version}"}
        exec(compile(self.source, f"{self.name}.py", "exec"), namespace)  # noqa: S102 - shipped code
        upgrade: Callable[[psycopg.Connection, MigrationContext], None] = namespace["upgrade"]
        upgrade(conn, context)


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files("amc_reports.warehouse").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(
                Migration(
                    match.group(1),
                    entry.name.rsplit(".", 1)[0],
                    entry.read_text("utf-8"),
                    match.group(3),
                )
            )
    if not found:
        raise RuntimeError(
            f"no migrations found in {folder}: the package was installed without its migration "
            "files (package data)"
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {folder}: {versions}")
    return found


def history_schema_for(results_schema: str) -> str:
    """Where replaced weeks of `results_schema` are kept."""
    return f"{results_schema}_history"


def apply_migrations(
    conn: psycopg.Connection,
    *,
    results_schema: str,
    instance_aliases: Mapping[str, str] | None,
    through: str | None = None,
) -> list[str]:
    """Apply the pending migrations on `conn` (not in autocommit); returns the names applied now.

    `instance_aliases`: the reports config's (AMC instance id -> alias), None when no config was
    loaded. `through`: stop after this version (a database as an earlier release left it)."""
    context = MigrationContext(
        results_schema=results_schema,
        history_schema=history_schema_for(results_schema),
        config_instance_aliases=None if instance_aliases is None else dict(instance_aliases),
    )
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
        for schema in (context.results_schema, context.history_schema):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        if not applied and context.config_instance_aliases is None:
            context = replace(context, config_instance_aliases={})  # a new database: no data
        for migration in available_migrations():
            if through is not None and migration.version > through:
                break
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    _log.warning(
                        "migration %s changed after it was applied; not re-applying it",
                        migration.name,
                    )
                continue
            _log.info("applying migration %s", migration.name)
            migration.apply(conn, replace(context, migration=migration.name))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.name)
    return applied_now
