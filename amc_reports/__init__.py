"""amc_reports: Amazon Marketing Cloud reports collected into Postgres week by week, on Dagster."""

__version__ = "0.1.0"
