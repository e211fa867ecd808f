-- Workflows as code: the AMC saved workflow `amc-reports sync-workflows` last wrote for each
-- (AMC instance, workflow id), with the fingerprint of what it sent (the report's SQL and
-- parameters) and of what AMC held right after (AMC's own text): a later difference between
-- AMC's workflow and `remote_fingerprint` means the workflow was edited in AMC (drift).

CREATE TABLE workflow_syncs (
    amc_instance_id    text NOT NULL,
    workflow_id        text NOT NULL,
    report             text NOT NULL,
    amc_instance       text NOT NULL,
    local_fingerprint  text NOT NULL,
    remote_fingerprint text NOT NULL,
    action             text NOT NULL CHECK (action IN ('created', 'updated', 'adopted')),
    remote_updated     text,
    synced_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (amc_instance_id, workflow_id)
);
CREATE INDEX workflow_syncs_report_idx ON workflow_syncs (report, amc_instance);
