-- The run family of a collection: Dagster's root run (`dagster/root_run_id`; the run itself when
-- it is not a re-execution). A retried run of a batch of weeks reuses the weeks an earlier run of
-- its family already collected, even once its backfill has ended and the retry carries no
-- backfill tag. Collections recorded before this migration are their own root.

ALTER TABLE report_data_collections ADD COLUMN root_run_id text;
UPDATE report_data_collections SET root_run_id = dagster_run_id;
ALTER TABLE report_data_collections ALTER COLUMN root_run_id SET NOT NULL;
CREATE INDEX report_data_collections_root_run_idx
    ON report_data_collections (root_run_id, report, amc_instance);
