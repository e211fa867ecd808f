"""Downstream analytics on collected weeks (no Dagster): the campaign KPIs example."""
