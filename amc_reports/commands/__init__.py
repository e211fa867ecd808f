"""The `amc-reports` commands, grouped by what they work on; `amc_reports.cli` assembles them."""
