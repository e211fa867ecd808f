"""Fixtures: a real PostgreSQL for the test session (filled in by the warehouse work)."""
