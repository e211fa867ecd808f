"""What a message says: report, instance, week, both ids, the run's link, what to do."""

from amc_reports.notify import AlertKind, FailureGroup, Severity, render
from amc_reports.notify.messages import REASON_LIMIT, asset_url, run_url
from amc_reports_tests.support.alerts import sample_alert as alert


def test_a_failed_week_names_everything_a_person_needs():
    message = render(alert(AlertKind.WEEK_FAILED), "https://dagster.example.com/")
    assert message.title == "[amc_reports] weekly_perf on us: week 2026-03-08 failed"
    assert message.severity is Severity.FAILURE
    for expected in (
        "Report: weekly_perf",
        "AMC instance: us (amc1abc)",
        "Week: 2026-03-08",
        "execution_id: 6f0c2c7e-0000-4000-8000-000000000001",
        "amc_execution_id: amc-exec-42",
        "What happened: Column 'bogus' does not exist",
        "Run: https://dagster.example.com/runs/run-123",
        "Asset: https://dagster.example.com/assets/amc/us/weekly_perf",
        "materialize the week again",
    ):
        assert expected in message.body, expected


def test_each_kind_has_its_title_and_severity():
    breaker = render(alert(AlertKind.CIRCUIT_BREAKER))
    assert "circuit breaker tripped" in breaker.title
    assert "Fix the query" in breaker.body
    stale = render(alert(AlertKind.STALE_REPORT, execution_id=None, amc_execution_id=None))
    assert stale.severity is Severity.WARNING
    assert "is stale: its newest final week 2026-03-08 is not collected" in stale.title
    assert "execution_id: none" in stale.body and "amc_execution_id: none" in stale.body
    check = render(alert(AlertKind.CHECK_ERROR, check="lineage_complete"))
    assert "check lineage_complete failed (ERROR) for week 2026-03-08" in check.title
    assert "Check: lineage_complete" in check.body


def test_reasons_are_redacted_and_cut():
    secret_reason = "token Atzr|IwEBIsecretrefresh and " + "x" * 5000
    body = render(alert(AlertKind.WEEK_FAILED, reason=secret_reason)).body
    assert "IwEBIsecretrefresh" not in body
    reason_line = next(line for line in body.splitlines() if line.startswith("What happened"))
    kept, note = reason_line.split(" [... ")
    assert len(kept) <= REASON_LIMIT + len("What happened: ")
    assert note.endswith("more characters cut]")


def test_links_are_built_from_the_base_url():
    assert run_url("http://h:3000/", "a b") == "http://h:3000/runs/a%20b"
    assert asset_url("http://h:3000", ("amc", "us", "r")) == "http://h:3000/assets/amc/us/r"
    assert "Run: none" in render(alert(AlertKind.WEEK_FAILED, run_id=None)).body


def test_a_failed_weeks_advice_is_its_failure_kinds():
    query = render(alert(AlertKind.WEEK_FAILED, failure_kind="query_error")).body
    assert "What to do: This is a query error: it is not retried." in query
    assert "transient" not in query and "simply be materialized again" not in query
    transient = render(alert(AlertKind.WEEK_FAILED, failure_kind="transient")).body
    assert "What to do: Materialize the week again later" in transient
    unknown = render(alert(AlertKind.WEEK_FAILED, failure_kind=None)).body
    assert "act on its failure kind" in unknown and "transient" not in unknown


def test_a_backfill_digest_groups_failures_by_kind_with_counts_first_weeks_and_link():
    groups = (
        FailureGroup(
            "query_error", ("2026-03-01", "2026-03-08", "2026-03-15", "2026-03-22"), "bad"
        ),
        FailureGroup("transient", ("2026-04-05",), "AMC internal error"),
    )
    digest = alert(
        AlertKind.BACKFILL_FAILED, backfill_id="bf1", groups=groups, targets=("weekly_perf on us",)
    )
    message = render(digest, "https://dagster.example.com")
    assert message.title == "[amc_reports] backfill bf1: 5 week(s) failed (weekly_perf on us)"
    body = message.body
    assert "Backfill: https://dagster.example.com/runs/b/bf1" in body
    assert "query_error: 4 week(s), first 2026-03-01, 2026-03-08, 2026-03-15, ..." in body
    assert "transient: 1 week(s), first 2026-04-05" in body
    assert "This is a query error" in body and "AMC internal error" in body
