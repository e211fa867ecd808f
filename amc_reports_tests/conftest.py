"""Shared fixtures: one embedded PostgreSQL and one AMC sandbox per test session; a webhook
receiver per test that asks for one."""

pytest_plugins = [
    "amc_reports_tests.fixtures_postgres",
    "amc_reports_tests.fixtures_sandbox",
    "amc_reports_tests.fixtures_webhook",
]
