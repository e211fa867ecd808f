"""Local stand-ins for live AMC and a real Postgres: the AMC sandbox and the embedded PostgreSQL.

They run when no AMC credentials or no database URL are configured (`make dev`, the tests), are
started on demand by whichever process needs them first, shared by every process of the project
and stop by themselves when idle. Both are detached local processes managed with the one helper in
`amc_reports.local.process` (lock file, spawn, liveness, terminate, idle stop).

- `sandbox/`: an HTTP server that behaves like AMC and Login with Amazon (`ensure_sandbox`).
- `postgres.py`: the embedded PostgreSQL (pgserver) shared by processes (`EmbeddedPostgres`).
- `process.py`: the helper for detached local processes.
"""
