-- Self-healing collection (issue 11): never pay AMC twice, heal, retry, the circuit breaker.
-- Applied by amc_reports.warehouse.migrate under an advisory lock, in one transaction.

-- UNTRACKED: AMC may have created the execution but never named it to us (a create answered
-- without an id, a connection cut after sending); the next attempt looks for it and adopts it.
-- LOST: AMC no longer knows the execution (HTTP 404), or never listed an untracked one.
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_status_check;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_status_check CHECK (status IN (
    'CREATED', 'PENDING', 'RUNNING', 'PUBLISHING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED',
    'SUBMIT_FAILED', 'UNTRACKED', 'LOST'));

-- Which attempt of its collection submitted the execution (transient failures are retried).
ALTER TABLE workflow_executions ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);

-- Why an execution, or a week, failed (rows.FailureKind: query_error, transient, lost, ...).
-- Not a CHECK constraint: the kinds are validated by the enum, and may grow without a migration.
ALTER TABLE workflow_executions ADD COLUMN failure_kind text;
ALTER TABLE report_data_weeks ADD COLUMN failure_kind text;

-- What the reconciler and a new attempt look for: executions AMC may still be working on, or
-- finished but never loaded, or created without an id.
CREATE INDEX workflow_executions_open_idx
    ON workflow_executions (report, amc_instance, week_start_date)
    WHERE status IN ('PENDING', 'RUNNING', 'PUBLISHING', 'SUCCEEDED', 'UNTRACKED');

-- The circuit breaker of one report on one instance in one backfill: consecutive weeks that
-- failed with a query error (a completed week resets the count); once `tripped_at` is set, the
-- backfill's remaining weeks of that report fail at once without submitting anything.
CREATE TABLE circuit_breakers (
    backfill_id             text NOT NULL,
    report                  text NOT NULL,
    amc_instance            text NOT NULL,
    consecutive_failures    integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    -- The first failure of the current streak (named by every week the breaker stops).
    first_week_start_date   date,
    first_message           text,
    first_execution_id      uuid,
    first_amc_execution_id  text,
    tripped_at              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (backfill_id, report, amc_instance)
);
CREATE TRIGGER circuit_breakers_updated_at BEFORE UPDATE ON circuit_breakers
    FOR EACH ROW EXECUTE FUNCTION amc_reports_touch_updated_at();
