"""AMC tests: every test starts from a reset sandbox and must leave no secret in any log."""

from __future__ import annotations

import pytest

from amc_reports_tests.fixtures_sandbox import SandboxHandle


@pytest.fixture(autouse=True)
def _reset_sandbox_and_check_logs(sandbox_without_leaks: SandboxHandle) -> SandboxHandle:
    return sandbox_without_leaks
