"""The Dagster layer: a thin shell mapping Dagster's context onto `amc_reports.collection`."""
