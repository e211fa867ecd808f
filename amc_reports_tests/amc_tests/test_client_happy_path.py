"""The client against the sandbox: create -> poll -> download, listing, workflows, accounts."""

from __future__ import annotations

import time
from datetime import UTC, timedelta

import pytest

from amc_reports.amc import AmcApiError, ExecutionStatus
from amc_reports_tests.amc_tests.helpers import (
    COLUMNS,
    INSTANCE,
    SQL,
    TZ,
    create,
    parse_day,
    read_result,
    rows_of,
    wait_terminal,
    week,
)


def test_create_poll_download(amc_client, sandbox):
    start, end = week()
    record = create(amc_client, window=(start, end))
    assert record.execution_id
    assert record.status is ExecutionStatus.PENDING
    assert record.time_window_start == start and record.time_window_end == end
    assert record.time_window_time_zone == TZ
    assert record.workflow_id and record.workflow_id.startswith("transient_")
    assert record.create_time is not None and record.create_time.tzinfo is UTC

    done = wait_terminal(amc_client, INSTANCE, record.execution_id)
    assert done.status is ExecutionStatus.SUCCEEDED and done.is_success and done.is_terminal
    assert done.start_time is not None and done.end_time is not None
    assert done.create_time <= done.start_time < done.end_time
    assert done.failure_reason is None and done.data_gaps == []

    with amc_client.open_result(INSTANCE, record.execution_id) as stream:
        assert stream.readable()
        data = stream.read()
        assert stream.parts == 1
        assert stream.bytes_read == len(data)
    rows = rows_of(data)
    assert rows[0] == COLUMNS
    assert len(rows) == 1 + 20  # the test sandbox returns 20 rows
    for row in rows[1:]:
        assert parse_day(start[:10]) <= parse_day(row[0]) < parse_day(end[:10])
        assert row[1].isdigit()
        assert int(row[3]) >= int(row[4])  # no more clicks than impressions
        float(row[5])

    [seen] = sandbox.executions()
    assert seen["execution_id"] == record.execution_id
    assert seen["sql"] == SQL and seen["status"] == "SUCCEEDED"
    assert (seen["time_window_start"], seen["time_window_end"]) == (start, end)


def test_execution_goes_through_running(amc_client, sandbox):
    sandbox.set_config({"queue_seconds": 0.2, "run_seconds": 2.0})
    record = create(amc_client)
    statuses = []
    done = None
    while done is None:
        current = amc_client.get_execution(INSTANCE, record.execution_id)
        statuses.append(current.status)
        if current.is_terminal:
            done = current
        time.sleep(0.02)
    assert ExecutionStatus.RUNNING in statuses or ExecutionStatus.PUBLISHING in statuses
    assert statuses[-1] is ExecutionStatus.SUCCEEDED
    order = [ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PUBLISHING]
    ranks = [order.index(s) for s in statuses[:-1]]
    assert ranks == sorted(ranks), "status went backwards"


def test_list_executions_follows_next_token(amc_client, sandbox):
    created = [create(amc_client).execution_id for _ in range(5)]
    listed = [r.execution_id for r in amc_client.list_executions(INSTANCE, limit=2)]
    assert listed == created
    pages = [r for r in sandbox.requests(path_contains="/workflowExecutions", method="GET")]
    assert len(pages) == 3  # 2 + 2 + 1

    first = amc_client.get_execution(INSTANCE, created[0]).create_time
    since_first = list(amc_client.list_executions(INSTANCE, min_creation_time=first))
    assert [r.execution_id for r in since_first] == created  # second precision, floored
    future = first + timedelta(hours=1)
    assert list(amc_client.list_executions(INSTANCE, min_creation_time=future)) == []
    assert list(amc_client.list_executions("amcotherinstance")) == []


def test_saved_workflow_crud_and_execution(amc_client):
    sql = (
        "SELECT event_date, COUNT(DISTINCT user_id) AS users FROM dsp_impressions "
        "WHERE advertiser_id IN (CUSTOM_PARAMETER('advertisers')) GROUP BY 1"
    )
    params = [{"name": "advertisers", "dataType": "STRING", "defaultValue": ["1"]}]
    created = amc_client.create_workflow(INSTANCE, "weekly_users", sql, input_parameters=params)
    assert created["workflowId"] == "weekly_users"
    assert amc_client.get_workflow(INSTANCE, "weekly_users")["sqlQuery"] == sql
    assert [w["workflowId"] for w in amc_client.list_workflows(INSTANCE)] == ["weekly_users"]

    new_sql = sql.replace("users", "reach")
    amc_client.update_workflow(INSTANCE, "weekly_users", new_sql, input_parameters=params)
    assert amc_client.get_workflow(INSTANCE, "weekly_users")["sqlQuery"] == new_sql

    start, end = week(3)
    record = amc_client.create_execution(
        INSTANCE,
        workflow_id="weekly_users",
        time_window_start=start,
        time_window_end=end,
        time_zone=TZ,
        parameter_values={"advertisers": ["42"]},
        ignore_data_gaps=True,
        timeout_seconds=3600,
    )
    assert record.workflow_id == "weekly_users"
    assert record.raw["parameterValues"] == {"advertisers": ["42"]}
    done = wait_terminal(amc_client, INSTANCE, record.execution_id)
    rows = rows_of(read_result(amc_client, INSTANCE, record.execution_id))
    assert rows[0] == ["event_date", "reach"]
    assert [
        r.execution_id for r in amc_client.list_executions(INSTANCE, workflow_id="weekly_users")
    ] == [done.execution_id]

    amc_client.delete_workflow(INSTANCE, "weekly_users")
    with pytest.raises(AmcApiError) as err:
        amc_client.get_workflow(INSTANCE, "weekly_users")
    assert err.value.status_code == 404


def test_duplicate_workflow_is_refused(amc_client):
    amc_client.create_workflow(INSTANCE, "dup", "SELECT 1 AS one FROM t")
    with pytest.raises(AmcApiError) as err:
        amc_client.create_workflow(INSTANCE, "dup", "SELECT 1 AS one FROM t")
    assert err.value.status_code == 400 and "already exists" in err.value.message


def test_accounts_and_instances(amc_client):
    [account] = amc_client.list_accounts()
    assert account["accountId"] == "ENTITYSANDBOX"
    assert account["marketplaceId"] == "ATVPDKIKX0DER"
    create(amc_client)
    ids = [i["instanceId"] for i in amc_client.list_instances()]
    assert INSTANCE in ids


def test_client_side_argument_checks(amc_client, sandbox):
    start, end = week()
    with pytest.raises(ValueError, match="exactly one"):
        amc_client.create_execution(
            INSTANCE, time_window_start=start, time_window_end=end, time_zone=TZ
        )
    with pytest.raises(ValueError, match="YYYY-MM-DDTHH:MM:SS"):
        amc_client.create_execution(
            INSTANCE, sql=SQL, time_window_start="2024-01-01", time_window_end=end, time_zone=TZ
        )
    assert sandbox.requests() == []  # nothing was sent
