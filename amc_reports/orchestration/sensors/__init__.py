"""The code location's sensors, one module per thing they watch:

- `weekly_checks`: the runs that ended -> a check run per week they materialized
  (`amc_weekly_checks`; Dagster's evaluation of the same rule, stopped:
  `amc_weekly_checks_by_condition`);
- `notifications`: the runs that ended -> messages about failed weeks, stale reports and ERROR
  checks (`amc_notifications`);
- `reconciler`: weeks and AMC executions no run watches -> healed (`amc_reconciler`);
- `provisional_weeks`: weeks collected while provisional that became final -> collected again
  (`amc_provisional_weeks_final`);
- `campaign_kpis`: the campaign KPI assets' automation condition (`amc_campaign_kpis`).

`conditions` builds the sensors that let Dagster evaluate automation conditions (one interval).
`ended_runs` is how the first two follow the runs that ended (Dagster's run-status cursors);
`collecting` is the decorator of the sensors whose runs collect weeks.
"""
