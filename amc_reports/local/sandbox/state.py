"""Persistent state of the sandbox: executions, saved workflows, access tokens (SQLite).

The serving process keeps everything in memory and writes each change through to
``<state dir>/sandbox.db`` in its own transaction, so a status poll never touches the disk and a
restarted sandbox finds every execution, workflow and token again. One process serves a state dir
at a time (the server holds a lock file for its whole life).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Execution:
    """One submitted execution: the facts fixed at creation (and the cancel time, if any).

    Status and start/end times are *derived* from these facts and the clock (see lifecycle).
    """

    id: str
    instance_id: str
    seq: int
    created_at: float
    workflow_id: str
    transient: bool
    sql: str
    window_type: str
    window_start: str
    window_end: str
    time_zone: str
    parameter_values: dict[str, Any] = field(default_factory=dict)
    ignore_data_gaps: bool = False
    timeout_seconds: int = 21600
    output_format: str = "CSV"
    advertiser_id: str = ""
    marketplace_id: str = ""
    queue_s: float = 1.0
    run_s: float = 4.0
    publish_s: float = 0.4
    outcome: str = "SUCCEEDED"  # SUCCEEDED | FAILED | REJECTED (when not cancelled)
    failure_reason: str | None = None
    rows: int | None = 100  # None: the result is the SQL run on synthetic AMC data
    parts: int = 1
    csv_fault: str | None = None
    result_key: str = ""
    cancel_time: float | None = None
    missing_id: bool = False
    data_gaps: list[Any] = field(default_factory=list)
    # What the SQL sees (when rows is None): the data volume, what had arrived by when (epoch
    # seconds), the workflow's parameter defaults and its aggregation-threshold options.
    impressions_per_day: int = 0
    data_as_of: float | None = None
    parameter_defaults: dict[str, Any] = field(default_factory=dict)
    filtered_metrics_column: str | None = None
    user_count_column: str | None = None

    @property
    def runs_sql(self) -> bool:
        return self.rows is None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Execution:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def token_digest(token: str) -> str:
    """Tokens are stored as digests: the state file never holds a usable access token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    """In-memory state with write-through persistence to SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self.executions: dict[str, Execution] = {}
        self.by_instance: dict[str, list[Execution]] = {}
        self.by_result_key: dict[str, Execution] = {}
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # digest -> (client_id, expires_at)
        self.version: dict[str, int] = {}  # instance -> change counter (schedule cache key)
        self._seq = 0
        self._load()

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS executions (
                    id TEXT PRIMARY KEY,
                    instance_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    doc TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS executions_instance ON executions (instance_id, seq);
                CREATE TABLE IF NOT EXISTS workflows (
                    instance_id TEXT NOT NULL,
                    workflow_id TEXT NOT NULL,
                    doc TEXT NOT NULL,
                    PRIMARY KEY (instance_id, workflow_id)
                );
                CREATE TABLE IF NOT EXISTS tokens (
                    digest TEXT PRIMARY KEY,
                    client_id TEXT NOT NULL,
                    expires_at REAL NOT NULL
                );
                """
            )
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('url_signing_key', ?)",
                (secrets.token_hex(32),),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)",
                (str(time.time()),),
            )

    def _load(self) -> None:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM executions ORDER BY seq").fetchall()
            for (doc,) in rows:
                self._index(Execution.from_json(doc))
            for instance_id, workflow_id, doc in self._db.execute(
                "SELECT instance_id, workflow_id, doc FROM workflows"
            ):
                self.workflows[(instance_id, workflow_id)] = json.loads(doc)
            now = time.time()
            for digest, client_id, expires_at in self._db.execute(
                "SELECT digest, client_id, expires_at FROM tokens"
            ):
                if expires_at > now:
                    self.tokens[digest] = (client_id, expires_at)

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- executions -----------------------------------------------------------------------------

    def _index(self, execution: Execution) -> None:
        self.executions[execution.id] = execution
        self.by_instance.setdefault(execution.instance_id, []).append(execution)
        self.by_result_key[execution.result_key] = execution
        self._seq = max(self._seq, execution.seq)
        self._bump(execution.instance_id)

    def _bump(self, instance_id: str) -> None:
        self.version[instance_id] = self.version.get(instance_id, 0) + 1

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add_execution(self, execution: Execution) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO executions (id, instance_id, seq, created_at, doc) VALUES (?,?,?,?,?)",
                (
                    execution.id,
                    execution.instance_id,
                    execution.seq,
                    execution.created_at,
                    execution.to_json(),
                ),
            )
            self._index(execution)

    def update_execution(self, execution: Execution) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE executions SET doc = ? WHERE id = ?", (execution.to_json(), execution.id)
            )
            self.executions[execution.id] = execution
            self._bump(execution.instance_id)

    def get_execution(self, instance_id: str, execution_id: str) -> Execution | None:
        execution = self.executions.get(execution_id)
        if execution is None or execution.instance_id != instance_id:
            return None
        return execution

    def instance_executions(self, instance_id: str) -> list[Execution]:
        return self.by_instance.get(instance_id, [])

    def all_executions(self) -> list[Execution]:
        return sorted(self.executions.values(), key=lambda e: e.seq)

    # -- workflows ------------------------------------------------------------------------------

    def get_workflow(self, instance_id: str, workflow_id: str) -> dict[str, Any] | None:
        return self.workflows.get((instance_id, workflow_id))

    def put_workflow(self, instance_id: str, workflow_id: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO workflows (instance_id, workflow_id, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (instance_id, workflow_id) DO UPDATE SET doc = excluded.doc",
                (instance_id, workflow_id, json.dumps(doc, sort_keys=True)),
            )
            self.workflows[(instance_id, workflow_id)] = doc

    def delete_workflow(self, instance_id: str, workflow_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM workflows WHERE instance_id = ? AND workflow_id = ?",
                (instance_id, workflow_id),
            )
            self.workflows.pop((instance_id, workflow_id), None)
            return cur.rowcount > 0

    def instance_workflows(self, instance_id: str) -> list[dict[str, Any]]:
        return [
            doc
            for (inst, _), doc in sorted(self.workflows.items(), key=lambda kv: kv[0])
            if inst == instance_id
        ]

    # -- tokens ---------------------------------------------------------------------------------

    def add_token(self, token: str, client_id: str, expires_at: float) -> None:
        digest = token_digest(token)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO tokens (digest, client_id, expires_at) VALUES (?, ?, ?)",
                (digest, client_id, expires_at),
            )
            self.tokens[digest] = (client_id, expires_at)
            if len(self.tokens) > 1000:  # forget expired ones now and then
                self._db.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))
                self.tokens = {d: v for d, v in self.tokens.items() if v[1] >= now}

    def token_info(self, token: str) -> tuple[str, float] | None:
        """(client_id, expires_at) of a token this sandbox issued, whether expired or not."""
        return self.tokens.get(token_digest(token))

    def revoke_tokens(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM tokens")
            self.tokens.clear()

    # -- reset ----------------------------------------------------------------------------------

    def reset(
        self, *, executions: bool = True, workflows: bool = True, tokens: bool = False
    ) -> None:
        with self._lock:
            if executions:
                self._db.execute("DELETE FROM executions")
                for instance_id in list(self.by_instance):
                    self._bump(instance_id)
                self.executions.clear()
                self.by_instance.clear()
                self.by_result_key.clear()
            if workflows:
                self._db.execute("DELETE FROM workflows")
                self.workflows.clear()
            if tokens:
                self.revoke_tokens()

    def close(self) -> None:
        with self._lock:
            self._db.close()
