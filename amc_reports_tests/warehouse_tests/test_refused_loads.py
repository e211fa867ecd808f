"""A refused load changes nothing: not the week's rows, not the results table's columns or types,
not the tables of the results and history schemas (issue 20, point 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from psycopg import sql

from amc_reports.warehouse import ResultLoadError, Warehouse
from amc_reports_tests.support.warehouse import WEEK, csv_bytes, new_execution, replace_week_results

REPORT = "refusals"


def _snapshot(warehouse: Warehouse, report: str = REPORT) -> dict[str, Any]:
    """Everything a load may change: columns with types and comments, rows, tables, versions."""
    with warehouse.connect() as conn:
        columns = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
            " col_description(a.attrelid, a.attnum)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname LIKE 'amc_results%%' AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY c.relname, a.attnum"
        ).fetchall()
        tables = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname LIKE 'amc_results%%' ORDER BY 1, 2"
        ).fetchall()
        versions = conn.execute(
            "SELECT execution_id, state, table_schema, table_name FROM week_versions"
            " WHERE report = %s ORDER BY 1",
            (report,),
        ).fetchall()
        rows: list[tuple[Any, ...]] = []
        if warehouse.table_columns(report):
            rows = conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY 1, 2, 3, 4").format(
                    sql.SQL(warehouse.results_table(report))
                )
            ).fetchall()
    return {"columns": columns, "tables": tables, "versions": versions, "rows": rows}


def _stored(warehouse: Warehouse) -> dict[str, Any]:
    """A report with one week of rows; returns the snapshot of it."""
    execution_id = new_execution(warehouse, report=REPORT)
    data = csv_bytes(["campaign", "impressions"], [["a", 10], ["b", 20]])
    replace_week_results(warehouse, REPORT, WEEK, execution_id, [data])
    return _snapshot(warehouse)


def _refused(warehouse: Warehouse, data: bytes, match: str, week=WEEK) -> ResultLoadError:
    execution_id = new_execution(warehouse, report=REPORT, week=week)
    with pytest.raises(ResultLoadError, match=match) as refused:
        replace_week_results(warehouse, REPORT, week, execution_id, [data])
    return refused.value


@pytest.mark.parametrize("week_offset", [0, 7], ids=["same week", "another week"])
def test_a_new_column_with_a_bad_row_leaves_the_table_as_it_was(
    warehouse: Warehouse, week_offset: int
):
    before = _stored(warehouse)
    data = b"campaign,impressions,brand_new_col\na,1,x\nb,2,y\x00z\n"
    _refused(warehouse, data, "COPY", week=WEEK + timedelta(days=week_offset))
    after = _snapshot(warehouse)
    assert "brand_new_col" not in [name for name, _, _ in after["columns"]]
    assert after == before


def test_renamed_and_widened_columns_with_a_bad_row_leave_the_table_as_it_was(
    warehouse: Warehouse,
):
    before = _stored(warehouse)
    # `impressions` renamed `impr` (a new column, the old one absent), `campaign` unchanged, a
    # new typed column, a value that would widen nothing yet: refused at row 3 (a NUL).
    renamed = b"campaign,impr,spend\na,1,1.5\nb,2,2.5\nc,3,\x00\n"
    _refused(warehouse, renamed, "COPY")
    assert _snapshot(warehouse) == before
    # `impressions` would widen from bigint to text (beyond the type sample), then a bad byte.
    filler = b"".join(b"a,%d\n" % i for i in range(40_000))
    widened = b"campaign,impressions\n" + filler + b"b,n/a\nc,\xff\xfe\n"
    assert len(widened) > 300_000  # the widening value lies beyond the type sample
    _refused(warehouse, widened, "COPY")
    after = _snapshot(warehouse)
    assert ("impressions", "bigint", None) in after["columns"]
    assert after == before


@pytest.mark.parametrize(
    ("header", "column", "shown"),
    [
        (b"campaign,im\xe9pr\n", 2, r"b'im\xe9pr'"),  # latin-1, not UTF-8
        (b"\xff\xfecampaign,impressions\n", 1, r"b'\xff\xfecampaign'"),  # a UTF-16 BOM
        (b"campaign,imp\x00r\n", 2, r"b'imp\x00r'"),
    ],
    ids=["latin-1", "utf-16 bom", "nul"],
)
def test_a_header_that_is_not_utf8_is_refused_naming_the_column(
    warehouse: Warehouse, header: bytes, column: int, shown: str
):
    before = _stored(warehouse)
    refusal = _refused(warehouse, header + b"a,1\n", "not valid UTF-8")
    assert f"column {column} of the header, {shown}" in str(refusal)
    after = _snapshot(warehouse)
    assert not [name for name, _, _ in after["columns"] if "\ufffd" in name]
    assert after == before


def test_a_refused_first_load_creates_no_table(warehouse: Warehouse):
    before = _snapshot(warehouse, "never_loaded")
    execution_id = new_execution(warehouse, report="never_loaded")
    with pytest.raises(ResultLoadError, match="COPY"):
        replace_week_results(warehouse, "never_loaded", WEEK, execution_id, [b"a,b\n1,2\n3,\x00\n"])
    assert warehouse.table_columns("never_loaded") == []
    assert _snapshot(warehouse, "never_loaded") == before


def test_a_recollection_that_adds_and_widens_columns_measures_what_changed(
    warehouse: Warehouse,
):
    first = new_execution(warehouse, report=REPORT)
    old = csv_bytes(["campaign", "impressions"], [["a", 10], ["b", 20], ["c", 30]])
    replace_week_results(warehouse, REPORT, WEEK, first, [old])
    second = new_execution(warehouse, report=REPORT)
    # `impressions` widens to double precision, `region` is new (a key column: text), `clicks`
    # is new (a measure).
    new = csv_bytes(
        ["campaign", "impressions", "region", "clicks"],
        [["a", 10, "", 1], ["b", "20.5", "", 2], ["d", 40, "", 3]],
    )
    result = replace_week_results(warehouse, REPORT, WEEK, second, [new])
    assert result.columns == [
        ("campaign", "text"),
        ("impressions", "double precision"),
        ("region", "text"),
        ("clicks", "bigint"),
    ]
    version = warehouse.get_version(second)
    assert version is not None and version.restatement is not None
    restated = version.restatement
    assert (restated["rows_before"], restated["rows_after"]) == (3, 3)
    assert restated["key_columns"] == ["campaign", "region"]
    # Matched by (campaign, region): region is NULL on both sides, so rows pair as multisets.
    assert (restated["rows_added"], restated["rows_removed"]) == (1, 1)
    assert restated["rows_changed"] == 2  # a: clicks NULL -> 1; b: 20 -> 20.5, clicks too
    assert restated["sums"]["impressions"]["before"] == 60
    assert restated["sums"]["impressions"]["after"] == 70.5
    assert restated["sums"]["clicks"] == {"before": None, "after": 6, "relative_change": None}
    types = dict(warehouse.table_columns(REPORT))
    assert (types["impressions"], types["clicks"]) == ("double precision", "bigint")
