"""Shared fixtures: one embedded PostgreSQL and one AMC sandbox per test session; a webhook
receiver per test that asks for one.

The tests run on the local stand-ins (`AMC_REPORTS_ENV=local`, as `make test` sets it), also when
pytest is started by hand: this process and every process it starts sandbox AMC, against the
embedded PostgreSQL or the database a fixture sets. Tests of production pass their own environment.
"""

import os

os.environ["AMC_REPORTS_ENV"] = "local"

pytest_plugins = [
    "amc_reports_tests.fixtures_postgres",
    "amc_reports_tests.fixtures_sandbox",
    "amc_reports_tests.fixtures_webhook",
]
