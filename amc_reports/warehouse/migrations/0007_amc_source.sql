-- Which AMC each execution ran on and each week's data came from: `amc_source` ('live', or
-- 'sandbox' for the local stand-in) and `amc_api_host` (the API's host[:port], never a URL with
-- credentials or a query). A week takes its execution's when it completes. The warehouse refuses
-- to mix sandbox and live weeks of one (report, instance) (`week_life`); `verify` reports any.
--
-- Rows from before this migration are 'unknown': the sandbox's execution ids look like live AMC's
-- (UUIDs) and its instance ids are whatever reports.yaml names, so nothing stored tells them apart.
-- 'unknown' never conflicts with either source.

ALTER TABLE workflow_executions
    ADD COLUMN amc_source text CHECK (amc_source IN ('live', 'sandbox', 'unknown')),
    ADD COLUMN amc_api_host text;
ALTER TABLE report_data_weeks
    ADD COLUMN amc_source text CHECK (amc_source IN ('live', 'sandbox', 'unknown')),
    ADD COLUMN amc_api_host text;
UPDATE workflow_executions SET amc_source = 'unknown';
UPDATE report_data_weeks SET amc_source = 'unknown' WHERE status = 'completed';
