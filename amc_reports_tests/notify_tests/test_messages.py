"""What a message says: report, instance, week, both ids, the run's link, what to do."""

from amc_reports.notify import AlertKind, Severity, render
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
