"""Fixtures: a real AMC sandbox over HTTP for the test session.

``sandbox`` (session) starts one sandbox *process* on a free loopback port in a temporary state
dir, the way the product does (``ensure_sandbox``), with short test timings (executions succeed
0.3 s after creation, 20 rows). Tests change faults with ``sandbox.set_config({...})`` (an overlay
on those timings) and undo everything with ``sandbox.reset()``; ``clean_sandbox`` does the reset
for you. ``amc_client`` is an :class:`AmcClient` for it with a short retry budget.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from amc_reports.amc import AmcClient, AmcClientConfig
from amc_reports.environment import SANDBOX_URL_VAR
from amc_reports.local.sandbox import ensure_sandbox, sandbox_client_config, stop_sandbox

# Base configuration of the test sandbox (written to its state dir as sandbox.yaml).
TEST_SANDBOX_CONFIG: dict[str, Any] = {"latency_seconds": 0.3, "rows": 20}

# Client settings for tests: fail in seconds, not minutes, when something is wrong.
TEST_CLIENT_SETTINGS: dict[str, Any] = {
    "retry_budget_seconds": 30,
    "read_timeout": 30,
    "connect_timeout": 5,
    "backoff_base_seconds": 0.1,
    "backoff_max_seconds": 2,
}


class SandboxHandle:
    """A running sandbox: its URL and state dir, and its admin endpoints as methods."""

    def __init__(self, base_url: str, state_dir: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.state_dir = Path(state_dir)
        self._http = requests.Session()

    def __repr__(self) -> str:
        return f"SandboxHandle(base_url={self.base_url!r}, state_dir={str(self.state_dir)!r})"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "sandbox.log"

    def _admin(self, method: str, path: str, **kw: Any) -> Any:
        if method != "GET":
            kw.setdefault("json", {})  # the sandbox takes only JSON admin requests
        resp = self._http.request(method, f"{self.base_url}/_sandbox/{path}", timeout=30, **kw)
        if resp.status_code >= 400:
            raise AssertionError(f"sandbox admin {method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    # -- configuration and reset ----------------------------------------------------------------

    def set_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Replace the runtime overlay (on top of the base test config) with ``config``."""
        return self._admin("PUT", "config", json=config)

    def patch_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Merge ``config`` into the runtime overlay."""
        return self._admin("PATCH", "config", json=config)

    def config(self) -> dict[str, Any]:
        return self._admin("GET", "config")

    def reset(self, **options: bool) -> None:
        """Forget executions, workflows, the request log and the overlay (tokens are kept)."""
        self._admin("POST", "reset", json=options)

    # -- observation ----------------------------------------------------------------------------

    def executions(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        """Every execution ever created (since the last reset), in creation order."""
        params = {"instance_id": instance_id} if instance_id else None
        return self._admin("GET", "executions", params=params)["executions"]

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def requests(
        self,
        *,
        path_contains: str | None = None,
        method: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """Requests the sandbox received (server-side timestamps ``t``, ``status``, ``fault``)."""
        params: dict[str, Any] = {}
        if path_contains:
            params["path_contains"] = path_contains
        if method:
            params["method"] = method
        if since is not None:
            params["since"] = since
        return self._admin("GET", "requests", params=params)["requests"]

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    # -- actions --------------------------------------------------------------------------------

    def expire_urls(self) -> None:
        """Make every download URL issued so far expired."""
        self._admin("POST", "expire-urls")

    def revoke_tokens(self) -> None:
        """Invalidate every access token (the next AMC call answers 401)."""
        self._admin("POST", "revoke-tokens")

    # -- clients --------------------------------------------------------------------------------

    def client_config(self, **overrides: Any) -> AmcClientConfig:
        return sandbox_client_config(self.base_url, **{**TEST_CLIENT_SETTINGS, **overrides})

    def client(self, **overrides: Any) -> AmcClient:
        return AmcClient(self.client_config(**overrides))

    def close(self) -> None:
        self._http.close()


def start_test_sandbox(
    state_dir: Path, config: dict[str, Any] | None = None, *, port: int = 0
) -> SandboxHandle:
    """Start a sandbox process for ``state_dir`` (free port unless given) with a test config."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cfg = state_dir / "sandbox.yaml"
    if config is not None or not cfg.exists():
        cfg.write_text(yaml.safe_dump(config if config is not None else TEST_SANDBOX_CONFIG))
    url = ensure_sandbox(
        host="127.0.0.1",
        port=port,
        state_dir=state_dir,
        startup_timeout=60,
        idle_timeout=float(os.environ.get("AMC_REPORTS_TEST_SANDBOX_IDLE_TIMEOUT", 3600)),
    )
    return SandboxHandle(url, state_dir)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One sandbox server process for the whole test session (stopped at the end)."""
    state_dir = tmp_path_factory.mktemp("amc-sandbox")
    handle = start_test_sandbox(state_dir)
    try:
        yield handle
    finally:
        handle.close()
        stop_sandbox(state_dir)


@pytest.fixture
def sandbox_env(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    """The session sandbox, exported as ``AMC_REPORTS_SANDBOX_URL`` for the test, so product code
    building its resources from the environment (here or in subprocesses) uses it."""
    monkeypatch.setenv(SANDBOX_URL_VAR, sandbox.base_url)
    return sandbox


@pytest.fixture
def clean_sandbox(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox, reset (no executions, workflows or faults) before the test."""
    sandbox.reset()
    return sandbox


@pytest.fixture
def sandbox_without_leaks(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> Iterator[SandboxHandle]:
    """The session sandbox, reset before the test; after it, no secret may appear in the
    client-side log nor in what the sandbox logged during the test."""
    from amc_reports_tests.amc_tests.helpers import find_secrets

    sandbox.reset()
    caplog.set_level(logging.DEBUG)
    log_offset = sandbox.log_file.stat().st_size if sandbox.log_file.exists() else 0
    yield sandbox
    leaks = find_secrets(caplog.text)
    assert not leaks, f"secrets in the client-side log: {leaks[:3]}"
    with open(sandbox.log_file, encoding="utf-8", errors="replace") as fh:
        fh.seek(log_offset)
        server_log = fh.read()
    leaks = find_secrets(server_log)
    assert not leaks, f"secrets in the sandbox log: {leaks[:3]}"


@pytest.fixture
def amc_client(sandbox: SandboxHandle) -> Iterator[AmcClient]:
    """An AmcClient for the session sandbox (fresh token cache, short retry budget)."""
    client = sandbox.client()
    try:
        yield client
    finally:
        client.close()
