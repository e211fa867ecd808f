-- The example downstream asset `amc/<instance>/campaign_kpis`: weekly KPIs per campaign computed
-- from one collected week of a report, with lineage back to the AMC execution that produced that
-- week (`execution_id`, `amc_execution_id` of the upstream week row when the KPIs were computed).
-- A week is replaced in one transaction (`warehouse.kpis`). Derived data lives in its own schema,
-- apart from the reports' results (`amc_results`) and the control tables (`public`).

CREATE SCHEMA IF NOT EXISTS amc_analytics;

CREATE TABLE amc_analytics.campaign_kpis_weekly (
    report                 text NOT NULL,           -- the upstream report
    amc_instance           text NOT NULL,
    week_start_date        date NOT NULL,
    campaign_id            text,
    campaign_name          text,
    impressions            bigint,
    clicks                 bigint,
    spend                  double precision,
    purchases              bigint,
    sales                  double precision,
    new_to_brand_purchases bigint,
    click_through_rate     double precision,        -- clicks / impressions (NULL when no impression)
    cost_per_click         double precision,        -- spend / clicks (NULL when no click)
    return_on_ad_spend     double precision,        -- sales / spend (NULL when no spend)
    new_to_brand_share     double precision,        -- NTB purchases / purchases (NULL when none)
    execution_id           uuid NOT NULL,           -- the upstream week's execution
    amc_execution_id       text NOT NULL,
    upstream_provisional   boolean NOT NULL,        -- the upstream week was provisional
    computed_at            timestamptz NOT NULL,
    dagster_run_id         text
);
CREATE UNIQUE INDEX campaign_kpis_weekly_campaign_idx
    ON amc_analytics.campaign_kpis_weekly (report, amc_instance, week_start_date, campaign_id);
CREATE INDEX campaign_kpis_weekly_execution_idx
    ON amc_analytics.campaign_kpis_weekly (execution_id);
