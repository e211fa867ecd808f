"""Weeks keyed by report, AMC instance and week; final or provisional; every stored version of a
week kept (history) with what changed (restatement); results tables partitioned by week.

1. `amc_instance` (the instance's alias in the reports config) joins the keys of
   `report_data_weeks`, `workflow_executions` and `report_data_collections`. Existing rows get the
   alias the config gives the AMC instance of their executions (else that instance's AMC id).
2. `final_at` and `provisional` on weeks and executions (existing data counts as final).
3. `week_versions`: one row per stored version of a week (the current one and those kept in
   history), with its row count, numeric sums and, for a re-collection, the restatement.
4. Each existing results table becomes a table partitioned by (amc_instance, week_start_date): one
   partition per collected week, filled from the old table, which is then dropped.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

LEGACY_LINEAGE = ("execution_id", "week_start_date")

CONTROL_TABLES = """
ALTER TABLE workflow_executions ADD COLUMN amc_instance text;
ALTER TABLE workflow_executions ADD COLUMN provisional boolean NOT NULL DEFAULT false;
ALTER TABLE workflow_executions ADD COLUMN final_at timestamptz;
ALTER TABLE report_data_weeks ADD COLUMN amc_instance text;
ALTER TABLE report_data_weeks ADD COLUMN provisional boolean NOT NULL DEFAULT false;
ALTER TABLE report_data_weeks ADD COLUMN final_at timestamptz;
ALTER TABLE report_data_collections ADD COLUMN amc_instance text;
"""

KEYS = """
ALTER TABLE workflow_executions ALTER COLUMN amc_instance SET NOT NULL;
DROP INDEX workflow_executions_report_week_idx;
CREATE INDEX workflow_executions_report_week_idx
    ON workflow_executions (report, amc_instance, week_start_date, created_at DESC);

ALTER TABLE report_data_weeks ALTER COLUMN amc_instance SET NOT NULL;
ALTER TABLE report_data_weeks DROP CONSTRAINT report_data_weeks_report_week_start_date_key;
ALTER TABLE report_data_weeks
    ADD CONSTRAINT report_data_weeks_key UNIQUE (report, amc_instance, week_start_date);
DROP INDEX report_data_weeks_running_idx;
CREATE INDEX report_data_weeks_running_idx
    ON report_data_weeks (report, amc_instance, week_start_date) WHERE status = 'running';

ALTER TABLE report_data_collections ALTER COLUMN amc_instance SET NOT NULL;
ALTER TABLE report_data_collections
    DROP CONSTRAINT report_data_collections_dagster_run_id_report_key;
ALTER TABLE report_data_collections
    ADD CONSTRAINT report_data_collections_key UNIQUE (dagster_run_id, report, amc_instance);

-- One row per stored version of a week: where its rows are and what they hold.
CREATE TABLE week_versions (
    execution_id          uuid PRIMARY KEY REFERENCES workflow_executions (id),
    report                text NOT NULL,
    amc_instance          text NOT NULL,
    week_start_date       date NOT NULL,
    state                 text NOT NULL CHECK (state IN ('current', 'history', 'dropped')),
    table_schema          text NOT NULL,
    table_name            text NOT NULL,
    row_count             bigint NOT NULL,
    sums                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    provisional           boolean NOT NULL DEFAULT false,
    previous_execution_id uuid REFERENCES workflow_executions (id),
    restatement           jsonb,
    loaded_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    replaced_at           timestamptz,
    replaced_by           uuid REFERENCES workflow_executions (id),
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX week_versions_current_idx
    ON week_versions (report, amc_instance, week_start_date) WHERE state = 'current';
CREATE INDEX week_versions_week_idx
    ON week_versions (report, amc_instance, week_start_date, loaded_at DESC);
CREATE TRIGGER week_versions_updated_at BEFORE UPDATE ON week_versions
    FOR EACH ROW EXECUTE FUNCTION amc_reports_touch_updated_at();
"""


def upgrade(conn: Any, context: Any) -> None:
    conn.execute(CONTROL_TABLES)
    _fill_instances(conn, dict(context.instance_aliases))
    conn.execute(KEYS)
    _partition_results_tables(conn, context.results_schema)


def _fill_instances(conn: Any, instance_aliases: dict[str, str]) -> None:
    """Existing rows: the alias of their executions' AMC instance (the config's, else its id)."""
    conn.execute(
        "CREATE TEMP TABLE migration_instance_aliases (amc_instance_id text PRIMARY KEY,"
        " alias text NOT NULL) ON COMMIT DROP"
    )
    if instance_aliases:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO migration_instance_aliases VALUES (%s, %s)",
                list(instance_aliases.items()),
            )
    conn.execute(
        "UPDATE workflow_executions e SET amc_instance = COALESCE("
        " (SELECT alias FROM migration_instance_aliases m"
        "  WHERE m.amc_instance_id = e.amc_instance_id),"
        " e.amc_instance_id)"
    )
    # A week's instance is its execution's; a week that never got one (failed before submitting),
    # its report's newest execution's (before this migration a report had one instance).
    conn.execute(
        "UPDATE report_data_weeks w SET amc_instance = COALESCE("
        " (SELECT e.amc_instance FROM workflow_executions e WHERE e.id = w.execution_id),"
        " (SELECT e.amc_instance FROM workflow_executions e WHERE e.report = w.report"
        "  ORDER BY e.created_at DESC LIMIT 1),"
        " 'unknown')"
    )
    conn.execute(
        "UPDATE report_data_collections c SET amc_instance = COALESCE("
        " (SELECT w.amc_instance FROM report_data_weeks w WHERE w.collection_id = c.id LIMIT 1),"
        " (SELECT e.amc_instance FROM workflow_executions e WHERE e.report = c.report"
        "  ORDER BY e.created_at DESC LIMIT 1),"
        " 'unknown')"
    )


def _partition_results_tables(conn: Any, schema: str) -> None:
    # Imported here: the migration runs with the package it shipped in.
    from amc_reports.warehouse import partitions

    reports = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT report FROM report_data_weeks"
            " UNION SELECT DISTINCT report FROM workflow_executions ORDER BY 1"
        ).fetchall()
    ]
    for report in reports:
        table = partitions.table_name_for_report(report)
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        ).fetchone()
        if kind is None or kind[0] != "r":
            continue  # no results yet, or already partitioned
        legacy = f"{table}__pre_partitioning"[:63]
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(schema, table), sql.Identifier(legacy)
            )
        )
        _partition_legacy_table(conn, schema, table, legacy, report)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, legacy)))


def _partition_legacy_table(conn: Any, schema: str, table: str, legacy: str, report: str) -> None:
    """The rows of `legacy` in a new partitioned `table`, one partition per week."""
    from amc_reports.warehouse import partitions
    from amc_reports.warehouse.rows import WeekKey

    columns = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = %s AND c.relname = %s ORDER BY a.attnum",
        (schema, legacy),
    ).fetchall()
    data = [(name, kind, note) for name, kind, note in columns if name not in LEGACY_LINEAGE]
    definitions = [
        sql.SQL("execution_id uuid NOT NULL"),
        sql.SQL("week_start_date date NOT NULL"),
        sql.SQL("amc_instance text NOT NULL"),
    ] + [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind, _ in data]
    conn.execute(
        sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE (amc_instance, week_start_date)").format(
            sql.Identifier(schema, table), sql.SQL(", ").join(definitions)
        )
    )
    for name, _, note in data:
        if note:
            conn.execute(
                sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                    sql.Identifier(schema, table, name), sql.Literal(note)
                )
            )
    fallback = conn.execute(
        "SELECT amc_instance FROM report_data_weeks WHERE report = %s"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        (report,),
    ).fetchone()
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _, _ in data)
    table_columns = [
        ("execution_id", "uuid"),
        ("week_start_date", "date"),
        ("amc_instance", "text"),
        *((name, kind) for name, kind, _ in data),
    ]
    weeks = conn.execute(
        sql.SQL(
            "SELECT week_start_date, array_agg(DISTINCT execution_id) FROM {} GROUP BY 1 ORDER BY 1"
        ).format(sql.Identifier(schema, legacy))
    ).fetchall()
    with conn.cursor() as cur:
        for week, executions in weeks:
            row = cur.execute(
                "SELECT amc_instance, status, execution_id FROM report_data_weeks"
                " WHERE report = %s AND week_start_date = %s",
                (report, week),
            ).fetchone()
            instance = row[0] if row else (fallback[0] if fallback else "unknown")
            key = WeekKey(report, instance, week)
            only = executions[0] if len(executions) == 1 else None
            staged = partitions.staging_name(table)
            partitions.create_week_table(cur, schema, staged, table_columns, key, only)
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (execution_id, week_start_date, amc_instance, {})"
                    " SELECT execution_id, week_start_date, %s, {} FROM {}"
                    " WHERE week_start_date = %s"
                ).format(
                    sql.Identifier(schema, staged), names, names, sql.Identifier(schema, legacy)
                ),
                (instance, week),
            )
            name = partitions.attach_week(cur, schema, table, staged, key)
            if row and row[1] == "completed" and row[2] is not None:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO week_versions (execution_id, report, amc_instance,"
                        " week_start_date, state, table_schema, table_name, row_count, provisional)"
                        " SELECT e.id, %s, %s, %s, 'current', %s, %s,"
                        " (SELECT count(*) FROM {} WHERE execution_id = e.id), false"
                        " FROM workflow_executions e WHERE e.id = %s"
                    ).format(sql.Identifier(schema, name)),
                    (report, instance, week, schema, name, row[2]),
                )
