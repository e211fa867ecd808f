"""Cancel, FAILED, REJECTED, timeouts, an accepted create without an id, a create whose answer
is cut, and an execution AMC forgot."""

from __future__ import annotations

import pytest

from amc_reports.amc import (
    AmcApiError,
    AmcCreateOutcomeUnknownError,
    AmcMissingExecutionIdError,
    ExecutionStatus,
)
from amc_reports_tests.amc_tests.helpers import INSTANCE, SQL, create, wait_terminal


def test_cancel_pending_and_running(amc_client, sandbox):
    sandbox.set_config({"queue_seconds": 30, "run_seconds": 30})
    pending = create(amc_client)
    cancelled = amc_client.cancel_execution(INSTANCE, pending.execution_id)
    assert cancelled.status is ExecutionStatus.CANCELLED and cancelled.is_terminal
    assert not cancelled.is_success
    assert amc_client.get_execution(INSTANCE, pending.execution_id).status == "CANCELLED"

    sandbox.set_config({"queue_seconds": 0, "run_seconds": 30})
    running = create(amc_client)
    assert amc_client.get_execution(INSTANCE, running.execution_id).status == "RUNNING"
    assert amc_client.cancel_execution(INSTANCE, running.execution_id).status == "CANCELLED"
    statuses = {e["execution_id"]: e["status"] for e in sandbox.executions()}
    assert statuses == {pending.execution_id: "CANCELLED", running.execution_id: "CANCELLED"}
    # The cancelled run freed its slot: nothing is RUNNING any more.
    assert sandbox.stats()["executions_by_status"][INSTANCE] == {"CANCELLED": 2}


def test_cancel_refused_after_success(amc_client, sandbox):
    record = create(amc_client)
    wait_terminal(amc_client, INSTANCE, record.execution_id)
    with pytest.raises(AmcApiError) as err:
        amc_client.cancel_execution(INSTANCE, record.execution_id)
    assert err.value.status_code == 400
    assert "SUCCEEDED" in err.value.message
    assert amc_client.get_execution(INSTANCE, record.execution_id).status == "SUCCEEDED"


def test_failed_execution_carries_its_reason(amc_client, sandbox):
    sandbox.set_config({"fail_next": 1, "failure_reason": "Query exceeded the memory limit"})
    record = create(amc_client)
    done = wait_terminal(amc_client, INSTANCE, record.execution_id)
    assert done.status is ExecutionStatus.FAILED and done.is_terminal and not done.is_success
    assert done.failure_reason == "Query exceeded the memory limit"
    with pytest.raises(AmcApiError) as err:
        amc_client.get_download_urls(INSTANCE, record.execution_id)
    assert err.value.status_code == 400 and "unavailable for download" in err.value.message


def test_rejected_execution(amc_client, sandbox):
    sandbox.set_config({"reject_next": 1})
    done = wait_terminal(amc_client, INSTANCE, create(amc_client).execution_id)
    assert done.status is ExecutionStatus.REJECTED
    assert "retry later" in (done.failure_reason or "")
    assert done.start_time is None  # it never ran


def test_timeout_fails_the_execution(amc_client, sandbox):
    sandbox.set_config({"queue_seconds": 0, "run_seconds": 5})
    record = create(amc_client, timeout_seconds=1)
    done = wait_terminal(amc_client, INSTANCE, record.execution_id)
    assert done.status is ExecutionStatus.FAILED
    assert "timed out" in (done.failure_reason or "")


def test_per_instance_faults(amc_client, sandbox):
    sandbox.set_config({"instances": {"amcflaky01": {"fail_rate": 1.0}}})
    flaky = create(amc_client, instance="amcflaky01")
    fine = create(amc_client)
    assert wait_terminal(amc_client, "amcflaky01", flaky.execution_id).status == "FAILED"
    assert wait_terminal(amc_client, INSTANCE, fine.execution_id).status == "SUCCEEDED"


def test_missing_id_gives_a_clear_error(amc_client, sandbox):
    sandbox.set_config({"missing_id_next": 1})
    with pytest.raises(AmcMissingExecutionIdError) as err:
        create(amc_client)
    message = str(err.value)
    assert "accepted" in message and "no execution id" in message
    assert "cannot be tracked" in message
    assert err.value.request_id
    # AMC did create it: it shows up in the admin list, just without an id in the response.
    [seen] = sandbox.executions()
    assert seen["response_had_id"] is False
    # ... and nothing else is broken: the next create works.
    record = create(amc_client)
    assert record.execution_id and len(sandbox.executions()) == 2


def test_id_from_location_header(amc_client, sandbox):
    sandbox.set_config({"location_only_next": 1})
    record = create(amc_client)
    [seen] = sandbox.executions()
    assert record.execution_id == seen["execution_id"]
    assert record.raw.get("workflowExecutionId") is None
    assert (
        amc_client.get_execution(INSTANCE, record.execution_id).execution_id == record.execution_id
    )


def test_a_create_whose_answer_is_cut_is_an_unknown_outcome_but_amc_ran_it(amc_client, sandbox):
    sandbox.set_config({"drop_create_next": 1})
    with pytest.raises(AmcCreateOutcomeUnknownError) as err:
        create(amc_client)
    assert "not retried automatically" in str(err.value)
    # The request reached AMC, which created the execution, and was not sent twice.
    [seen] = sandbox.executions()
    listed = list(amc_client.list_executions(INSTANCE))
    assert [record.execution_id for record in listed] == [seen["execution_id"]]
    assert listed[0].raw["workflow"]["sqlQuery"] == SQL  # what adoption matches on


def test_an_execution_amc_forgot_answers_404(amc_client, sandbox):
    sandbox.set_config({"lose_next": 1})
    record = create(amc_client)
    with pytest.raises(AmcApiError) as err:
        amc_client.get_execution(INSTANCE, record.execution_id)
    assert err.value.status_code == 404
    assert sandbox.executions() == [] and sandbox.stats()["executions_lost"] == 1
