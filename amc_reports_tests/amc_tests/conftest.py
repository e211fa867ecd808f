"""AMC tests: every test starts from a reset sandbox and must leave no secret in any log."""

from __future__ import annotations

import logging

import pytest

from amc_reports_tests.amc_tests.helpers import find_secrets
from amc_reports_tests.fixtures_sandbox import SandboxHandle


@pytest.fixture(autouse=True)
def _reset_sandbox_and_check_logs(sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture):
    sandbox.reset()
    caplog.set_level(logging.DEBUG)
    log_offset = sandbox.log_file.stat().st_size if sandbox.log_file.exists() else 0
    yield
    leaks = find_secrets(caplog.text)
    assert not leaks, f"secrets in the client-side log: {leaks[:3]}"
    with open(sandbox.log_file, encoding="utf-8", errors="replace") as fh:
        fh.seek(log_offset)
        server_log = fh.read()
    leaks = find_secrets(server_log)
    assert not leaks, f"secrets in the sandbox log: {leaks[:3]}"
