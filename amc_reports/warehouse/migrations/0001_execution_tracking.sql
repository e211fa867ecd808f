-- Execution tracking: AMC executions, collected weeks, collection runs.
-- Applied by amc_reports.warehouse.migrate under an advisory lock, in one transaction.

CREATE OR REPLACE FUNCTION amc_reports_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

-- One row per AMC execution we record (id = our execution_id), created before it is submitted.
CREATE TABLE workflow_executions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    report            text NOT NULL,
    week_start_date   date NOT NULL,
    week_end_date     date NOT NULL,
    amc_instance_id   text NOT NULL,
    amc_execution_id  text UNIQUE,
    status            text NOT NULL DEFAULT 'CREATED' CHECK (status IN (
                          'CREATED', 'PENDING', 'RUNNING', 'PUBLISHING', 'SUCCEEDED', 'FAILED',
                          'CANCELLED', 'REJECTED', 'SUBMIT_FAILED')),
    time_window_start timestamp NOT NULL,
    time_window_end   timestamp NOT NULL,
    time_zone         text NOT NULL,
    sql_hash          text NOT NULL,
    parameters        jsonb NOT NULL DEFAULT '{}'::jsonb,
    submitted_at      timestamptz,
    started_at        timestamptz,
    completed_at      timestamptz,
    row_count         bigint,
    bytes             bigint,
    failure_reason    text,
    data_gaps         jsonb,
    dagster_run_id    text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (week_end_date >= week_start_date)
);
CREATE INDEX workflow_executions_report_week_idx
    ON workflow_executions (report, week_start_date, created_at DESC);
CREATE INDEX workflow_executions_status_idx ON workflow_executions (status);
CREATE TRIGGER workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW EXECUTE FUNCTION amc_reports_touch_updated_at();

-- One row per Dagster run (or backfill run) and report.
CREATE TABLE report_data_collections (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    report           text NOT NULL,
    collection_type  text NOT NULL CHECK (collection_type IN ('backfill', 'scheduled', 'manual')),
    dagster_run_id   text NOT NULL,
    backfill_id      text,
    weeks            date[] NOT NULL DEFAULT '{}',
    weeks_total      integer NOT NULL DEFAULT 0,
    weeks_completed  integer NOT NULL DEFAULT 0,
    weeks_failed     integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'completed', 'partial', 'failed', 'cancelled')),
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (dagster_run_id, report)
);
CREATE INDEX report_data_collections_report_idx ON report_data_collections (report, started_at DESC);
CREATE INDEX report_data_collections_backfill_idx ON report_data_collections (backfill_id)
    WHERE backfill_id IS NOT NULL;
CREATE TRIGGER report_data_collections_updated_at BEFORE UPDATE ON report_data_collections
    FOR EACH ROW EXECUTE FUNCTION amc_reports_touch_updated_at();

-- The truth for one (report, week).
CREATE TABLE report_data_weeks (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    report                 text NOT NULL,
    week_start_date        date NOT NULL,
    week_end_date          date NOT NULL,
    status                 text NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    execution_id           uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    amc_execution_id       text,
    record_count           bigint,
    data_checksum          text,
    execution_time_seconds double precision,
    result_columns         jsonb,
    error_message          text,
    started_at             timestamptz,
    completed_at           timestamptz,
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    collection_id          uuid REFERENCES report_data_collections (id) ON DELETE SET NULL,
    dagster_run_id         text,
    UNIQUE (report, week_start_date),
    CHECK (week_end_date >= week_start_date)
);
CREATE INDEX report_data_weeks_status_idx ON report_data_weeks (status);
CREATE INDEX report_data_weeks_execution_idx ON report_data_weeks (execution_id);
CREATE INDEX report_data_weeks_amc_execution_idx ON report_data_weeks (amc_execution_id);
CREATE INDEX report_data_weeks_collection_idx ON report_data_weeks (collection_id);
CREATE INDEX report_data_weeks_running_idx ON report_data_weeks (report, week_start_date)
    WHERE status = 'running';
CREATE TRIGGER report_data_weeks_updated_at BEFORE UPDATE ON report_data_weeks
    FOR EACH ROW EXECUTE FUNCTION amc_reports_touch_updated_at();
