"""Migrations: applied in order, recorded, idempotent, safe when processes migrate at once."""

from __future__ import annotations

import subprocess
import sys
import threading

from amc_reports.warehouse import Warehouse
from amc_reports.warehouse.migrate import available_migrations


def _recorded(url: str) -> list[str]:
    with Warehouse(url).connect() as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]


def _tables(url: str) -> set[str]:
    with Warehouse(url).connect() as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrations_are_versioned_files_in_order():
    migrations = available_migrations()
    assert migrations, "no migrations shipped"
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)


def test_migrate_applies_once_and_is_idempotent(fresh_database_url):
    warehouse = Warehouse(fresh_database_url)
    first = warehouse.migrate()
    assert first == [m.name for m in available_migrations()]
    assert warehouse.migrate() == []
    assert warehouse.migrate() == []
    assert _recorded(fresh_database_url) == first
    tables = _tables(fresh_database_url)
    for name in ("workflow_executions", "report_data_weeks", "report_data_collections"):
        assert f"public.{name}" in tables
    with warehouse.connect() as conn:
        schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'amc_results'").fetchone()
    assert schema is not None


def test_concurrent_migrations_from_threads_and_processes(fresh_database_url):
    errors: list[BaseException] = []
    applied: list[list[str]] = []
    barrier = threading.Barrier(4)

    def migrate() -> None:
        try:
            barrier.wait(timeout=30)
            applied.append(Warehouse(fresh_database_url).migrate())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    code = (
        "import sys; from amc_reports.warehouse import Warehouse; Warehouse(sys.argv[1]).migrate()"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, fresh_database_url], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    outputs = [p.communicate(timeout=120) for p in processes]
    assert not errors, errors
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    names = [m.name for m in available_migrations()]
    # Exactly one migrator applied each migration; everyone else found it done.
    assert sum(len(a) for a in applied) <= len(names)
    assert _recorded(fresh_database_url) == names
