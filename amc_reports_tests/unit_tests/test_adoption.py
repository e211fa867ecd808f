"""Matching an execution AMC created without naming it: what we asked for, and nothing else."""

from datetime import UTC, datetime

from amc_reports.amc import ExecutionRecord
from amc_reports.collection.adoption import Expected, matching_executions

SQL = "SELECT campaign_id, SUM(clicks) AS clicks\nFROM sponsored_ads_traffic GROUP BY 1"
EXPECTED = Expected(
    time_window_start="2026-03-08T00:00:00",
    time_window_end="2026-03-15T00:00:00",
    time_zone="America/New_York",
    sql=SQL,
    workflow_id=None,
    parameters={"min_clicks": 10},
)


def listed(execution_id: str, minute: int = 0, **changes) -> ExecutionRecord:
    data = {
        "workflowExecutionId": execution_id,
        "status": "RUNNING",
        "workflowId": f"transient_{execution_id}",
        "createTime": datetime(2026, 3, 20, 12, minute, tzinfo=UTC).isoformat(),
        "timeWindowStart": "2026-03-08T00:00:00Z",
        "timeWindowEnd": "2026-03-15T00:00:00.000Z",
        "timeWindowTimeZone": "America/New_York",
        "workflow": {
            "sqlQuery": "SELECT campaign_id, SUM(clicks) AS clicks FROM "
            "sponsored_ads_traffic GROUP BY 1"
        },
        "parameterValues": {"min_clicks": "10"},  # AMC may echo numbers as strings
    }
    data.update(changes)
    return ExecutionRecord.from_api(data)


def test_the_newest_matching_execution_that_is_not_ours_is_found():
    records = [listed("a", 1), listed("b", 5), listed("ours", 9)]
    found = matching_executions(records, EXPECTED, known={"ours"})
    assert [r.execution_id for r in found] == ["b", "a"]


def test_another_window_zone_query_or_parameters_is_not_ours():
    others = [
        listed("w", timeWindowStart="2026-03-01T00:00:00"),
        listed("z", timeWindowTimeZone="UTC"),
        listed("q", workflow={"sqlQuery": "SELECT 1"}),
        listed("p", parameterValues={"min_clicks": "11"}),
        listed("n", workflow=None),  # AMC did not say what it ran: never adopted on a guess
    ]
    assert matching_executions(others, EXPECTED, known=set()) == []


def test_saved_workflows_match_on_the_workflow_id():
    expected = Expected(**{**EXPECTED.__dict__, "sql": None, "workflow_id": "weekly_perf_v2"})
    records = [listed("mine", workflowId="weekly_perf_v2"), listed("other", workflowId="x")]
    assert [r.execution_id for r in matching_executions(records, expected, set())] == ["mine"]
