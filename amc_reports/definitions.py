"""The single Dagster `Definitions` of the amc_reports code location."""

import dagster as dg

defs = dg.Definitions()
