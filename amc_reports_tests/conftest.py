"""Shared fixtures: one embedded PostgreSQL and one AMC sandbox per test session."""

pytest_plugins = [
    "amc_reports_tests.fixtures_postgres",
    "amc_reports_tests.fixtures_sandbox",
]
