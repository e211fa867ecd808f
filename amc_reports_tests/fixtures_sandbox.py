"""Fixtures: a real AMC sandbox over HTTP for the test session (filled in by the AMC work)."""
