"""The sandbox's behaviour, independent of HTTP plumbing: tokens, executions, workflows, admin."""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amc_reports.local.sandbox import results
from amc_reports.local.sandbox.constants import (
    DB_FILE,
    RESULTS_DIR,
    SANDBOX_ADVERTISER_ID,
    SANDBOX_INSTANCE_ID,
    SANDBOX_MARKETPLACE_ID,
    sandbox_app_of_client,
)
from amc_reports.local.sandbox.faults import Faults, data_as_of, paid_features
from amc_reports.local.sandbox.lifecycle import Observed, Scheduler, max_concurrency
from amc_reports.local.sandbox.sql_runs import SqlRuns
from amc_reports.local.sandbox.state import Execution, Store
from amc_reports.local.sandbox.validation import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    ApiError,
    as_bool,
    as_int,
    bad_request,
    check_parameters,
    check_sql,
    check_workflow_body,
    parameter_defaults,
    resolve_window,
    threshold_options,
)

REQUEST_LOG_SIZE = 20000

log = logging.getLogger("amc_reports.local.sandbox")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class LwaError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class SandboxService:
    def __init__(self, state_dir: Path, base_config: dict[str, Any] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.state_dir / DB_FILE)
        self.faults = Faults(base_config or {})
        self.scheduler = Scheduler(self.store, lambda i: self.faults.settings(i)["max_running"])
        self.sql_runs = SqlRuns(
            self.state_dir / RESULTS_DIR,
            self._sql_failed,
            lambda execution_id: execution_id in self.store.executions,
            self._query_limits,
        )
        self.files = results.ResultFiles(self.state_dir / RESULTS_DIR, self.sql_runs)
        self.url_key = (self.store.meta("url_signing_key") or "").encode()
        self.url_epoch = int(self.store.meta("url_epoch") or 0)
        self.started_at = time.time()
        self.last_activity = time.monotonic()
        self.requests: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=REQUEST_LOG_SIZE
        )
        self.request_counter = 0
        self.lost = 0  # executions forgotten on purpose (lose_next)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.sql_runs.close()
        self.store.close()

    # -- request log ----------------------------------------------------------------------------

    def record_request(self, entry: dict[str, Any]) -> None:
        self.request_counter += 1
        entry["n"] = self.request_counter
        self.requests.append(entry)

    def request_log(
        self,
        *,
        since: float | None = None,
        path_contains: str | None = None,
        method: str | None = None,
        limit: int = 5000,
    ) -> list[dict[str, Any]]:
        out = []
        for entry in list(self.requests):
            if since is not None and entry["t"] < since:
                continue
            if path_contains and path_contains not in entry["path"]:
                continue
            if method and entry["method"] != method.upper():
                continue
            out.append(entry)
        return out[-limit:]

    # -- LwA ------------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        missing = "The request is missing a required parameter : "
        grant = form.get("grant_type")
        if not grant:
            raise LwaError(400, "invalid_request", missing + "grant_type")
        if grant != "refresh_token":
            raise LwaError(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server",
            )
        if not form.get("client_id") or not form.get("client_secret"):
            raise LwaError(400, "invalid_request", missing + "client_id or client_secret")
        # Several LwA apps: `default` and any `amc-sandbox-client-<name>` (see SandboxApp).
        app = sandbox_app_of_client(form.get("client_id", ""))
        if app is None or not secrets.compare_digest(
            form.get("client_secret", "").encode(), app.client_secret.encode()
        ):
            raise LwaError(401, "invalid_client", "Client authentication failed")
        if not form.get("refresh_token"):
            raise LwaError(400, "invalid_request", missing + "refresh_token")
        if not secrets.compare_digest(
            form.get("refresh_token", "").encode(), app.refresh_token.encode()
        ):
            raise LwaError(
                400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        expires_in = int(self.faults.settings(None)["token_expires_in"])
        token = "Atza|" + secrets.token_urlsafe(48)
        self.store.add_token(token, app.client_id, time.time() + expires_in)
        return {
            "access_token": token,
            "refresh_token": app.refresh_token,
            "token_type": "bearer",
            "expires_in": expires_in,
        }

    def authenticate(self, headers, *, need_account: bool = True) -> tuple[str, str]:
        """Check the AMC headers; return (advertiser id, marketplace id)."""
        auth = headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Unauthorized: missing or malformed Authorization header")
        info = self.store.token_info(token.strip())
        if info is None:
            raise ApiError(401, "Unauthorized: the access token is invalid")
        client_id, expires_at = info
        if time.time() >= expires_at:
            raise ApiError(401, "Unauthorized: the access token has expired")
        header_client = headers.get("amazon-advertising-api-clientid")
        if not header_client:
            raise ApiError(400, "Missing required header Amazon-Advertising-API-ClientId")
        if header_client != client_id:
            raise ApiError(
                401, "Unauthorized: Amazon-Advertising-API-ClientId does not match the access token"
            )
        advertiser = headers.get("amazon-advertising-api-advertiserid") or ""
        marketplace = headers.get("amazon-advertising-api-marketplaceid") or ""
        if need_account:
            if not advertiser:
                raise ApiError(400, "Missing required header Amazon-Advertising-API-AdvertiserId")
            if not marketplace:
                raise ApiError(400, "Missing required header Amazon-Advertising-API-MarketplaceId")
        return advertiser, marketplace

    # -- executions -----------------------------------------------------------------------------

    def create_execution(
        self, instance_id: str, body: Any, advertiser: str, marketplace: str
    ) -> tuple[Execution, dict[str, Any], dict[str, str]]:
        """Create an execution (its SQL checked in this thread); see `create_execution_async`."""
        steps = self._create_steps(instance_id, body, advertiser, marketplace)
        try:
            check = next(steps)
            while True:
                check = steps.send(self._validate_sql(*check))
        except StopIteration as done:
            return done.value

    async def create_execution_async(
        self, instance_id: str, body: Any, advertiser: str, marketplace: str
    ) -> tuple[Execution, dict[str, Any], dict[str, str]]:
        """`create_execution`, its SQL checked in a worker thread: parsing and binding a large
        query takes seconds, which the event loop (health, tokens, polls) must not wait for."""
        steps = self._create_steps(instance_id, body, advertiser, marketplace)
        try:
            check = next(steps)
            while True:
                check = steps.send(await asyncio.to_thread(self._validate_sql, *check))
        except StopIteration as done:
            return done.value

    def _create_steps(
        self, instance_id: str, body: Any, advertiser: str, marketplace: str
    ) -> Generator[tuple[Any, ...], str | None, tuple[Execution, dict[str, Any], dict[str, str]]]:
        """Creating an execution; yields the arguments of `_validate_sql` and gets its answer."""
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        now = time.time()
        workflow = body.get("workflow")
        saved_id = body.get("workflowId")
        if workflow is not None and saved_id:
            raise bad_request("Provide either workflowId or workflow, not both")
        input_parameters: list[dict[str, Any]] | None = None
        if saved_id:
            if not isinstance(saved_id, str):
                raise bad_request("workflowId must be a string")
            saved = self.store.get_workflow(instance_id, saved_id)
            if saved is None:
                raise bad_request(f"Workflow '{saved_id}' does not exist in instance {instance_id}")
            sql = saved["sqlQuery"]
            input_parameters = saved.get("inputParameters") or []
            workflow_id, transient = saved_id, False
            options = threshold_options(saved)
        elif isinstance(workflow, dict):
            sql = check_sql(workflow.get("sqlQuery"), what="workflow.sqlQuery")
            input_parameters = workflow.get("inputParameters") or []
            workflow_id, transient = f"transient_{uuid.uuid4()}", True
            options = threshold_options(workflow)
        else:
            raise bad_request("Either workflowId or workflow.sqlQuery is required")
        window = resolve_window(body, datetime.now(UTC))
        parameter_values = check_parameters(sql, body.get("parameterValues"), input_parameters)
        ignore_gaps = as_bool(body.get("ignoreDataGaps", False), "ignoreDataGaps")
        timeout = as_int(
            body.get("workflowExecutionTimeoutSeconds", DEFAULT_TIMEOUT_SECONDS),
            "workflowExecutionTimeoutSeconds",
        )
        if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
            raise bad_request(
                f"workflowExecutionTimeoutSeconds must be between 1 and {MAX_TIMEOUT_SECONDS}"
            )
        output_format = str(body.get("outputFormat") or "CSV").upper()
        if output_format != "CSV":
            raise bad_request(f"Unsupported outputFormat '{output_format}': only CSV")
        if "requireSyntheticData" in body:
            as_bool(body["requireSyntheticData"], "requireSyntheticData")

        s = self.faults.settings(instance_id)
        latency = s["latency_seconds"]
        queue_s = s["queue_seconds"] if s["queue_seconds"] is not None else 0.2 * latency
        run_s = s["run_seconds"] if s["run_seconds"] is not None else latency - 0.2 * latency
        run_s += s["extra_latency_seconds"]
        publish_s = s["publishing_seconds"] if s["publishing_seconds"] is not None else 0.1 * run_s
        outcome, reason = "SUCCEEDED", None
        if self.faults.fault("reject_next", "reject_rate", instance_id):
            outcome = "REJECTED"
            reason = (
                "Too many executions over the same data sources and overlapping time windows; "
                "retry later"
            )
        elif self.faults.fault("fail_next", "fail_rate", instance_id):
            outcome, reason = "FAILED", s["failure_reason"]
        defaults = parameter_defaults(input_parameters)
        as_of = data_as_of(s)
        if outcome == "SUCCEEDED":
            problem = yield (sql, s["rows"], window, {**defaults, **parameter_values}, instance_id)
            if problem is not None:
                outcome, reason = "FAILED", problem
        missing_id = self.faults.fault("missing_id_next", "missing_id_rate", instance_id)
        location_only = not missing_id and self.faults.fault(
            "location_only_next", "location_only_rate", instance_id
        )
        execution = Execution(
            id=str(uuid.uuid4()),
            instance_id=instance_id,
            seq=self.store.next_seq(),
            created_at=now,
            workflow_id=workflow_id,
            transient=transient,
            sql=sql,
            window_type=window.window_type,
            window_start=window.start,
            window_end=window.end,
            time_zone=window.time_zone,
            parameter_values=parameter_values,
            ignore_data_gaps=ignore_gaps,
            timeout_seconds=timeout,
            output_format=output_format,
            advertiser_id=advertiser,
            marketplace_id=marketplace,
            queue_s=float(queue_s),
            run_s=float(max(run_s, 0.0)),
            publish_s=float(min(publish_s, run_s)),
            outcome=outcome,
            failure_reason=reason,
            rows=None if s["rows"] is None else int(s["rows"]),
            parts=int(s["parts"]),
            csv_fault=s["csv_fault"],
            result_key=secrets.token_hex(16),
            missing_id=missing_id,
            data_gaps=list(s["data_gaps"]),
            impressions_per_day=int(s["impressions_per_day"]),
            data_as_of=as_of.timestamp() if as_of is not None else now,
            parameter_defaults=defaults,
            filtered_metrics_column=options.get("filteredMetricsDiscriminatorColumn"),
            user_count_column=options.get("distinctUserCountColumn"),
        )
        if self.faults.take("lose_next", instance_id):
            self.lost += 1  # answered as created, then forgotten: 404 on every later call
        else:
            self.store.add_execution(execution)
        doc = self.execution_doc(execution, now)
        headers: dict[str, str] = {}
        location = f"/amc/reporting/{instance_id}/workflowExecutions/{execution.id}"
        if missing_id:
            doc.pop("workflowExecutionId", None)
        elif location_only:
            doc.pop("workflowExecutionId", None)
            headers["Location"] = location
        else:
            headers["Location"] = location
        return execution, doc, headers

    def _validate_sql(
        self,
        sql: str,
        rows: int | None,
        window: Any,
        parameters: dict[str, Any],
        instance_id: str,
    ) -> str | None:
        """Why the query cannot run (an AMC-like failure reason), or None.

        Invented results (``rows: N``) only need a query that parses; a query that runs is also
        bound against the AMC tables (unknown tables, columns, functions, types).
        """
        from amc_reports.amc_sql import AmcSqlError, parse_query

        try:
            if rows is not None:
                parse_query(sql)
                return None
            from amc_reports.local.sandbox import query

            query.check(
                query.prepare(
                    sql,
                    query.Window.parse(window.start, window.end, window.time_zone),
                    parameters,
                    paid_features(self.faults.settings(instance_id)),
                )
            )
        except AmcSqlError as exc:
            log.info("execution on %s: query validation failed: %s", instance_id, exc)
            return f"Query validation failed: {exc}"
        return None

    def _query_limits(self, execution: Execution) -> Any:
        """What the execution's query may use (the instance's settings when it runs)."""
        from amc_reports.local.sandbox.query import Limits

        s = self.faults.settings(execution.instance_id)
        return Limits(seconds=s["query_timeout_seconds"], memory_mb=s["query_memory_mb"])

    def _sql_failed(self, execution: Execution, reason: str) -> None:
        """The worker could not run an execution's query: the execution ends FAILED."""
        execution.outcome = "FAILED"
        execution.failure_reason = reason
        self.store.update_execution(execution)

    def observe(self, e: Execution, now: float) -> Observed:
        """An execution's status at ``now``: its schedule; once it runs, its query is handed to
        the worker, and it stays RUNNING until the result is computed."""
        seen = self.scheduler.observe(e, now)
        if (
            e.runs_sql
            and e.outcome == "SUCCEEDED"
            and seen.status in ("RUNNING", "PUBLISHING", "SUCCEEDED")
            and not self.sql_runs.done(e)
            and seen.status != "RUNNING"
        ):
            return Observed("RUNNING", seen.start, None, None)
        return seen

    def execution_doc(self, e: Execution, now: float) -> dict[str, Any]:
        seen = self.observe(e, now)
        doc: dict[str, Any] = {
            "workflowExecutionId": e.id,
            "workflowId": e.workflow_id,
            "status": seen.status,
            "createTime": iso(e.created_at),
            "lastUpdatedTime": iso(seen.end or seen.start or e.created_at),
            "timeWindowType": e.window_type,
            "timeWindowStart": e.window_start,
            "timeWindowEnd": e.window_end,
            "timeWindowTimeZone": e.time_zone,
            "parameterValues": e.parameter_values,
            "ignoreDataGaps": e.ignore_data_gaps,
            "workflowExecutionTimeoutSeconds": e.timeout_seconds,
            "outputFormat": e.output_format,
            "dataGaps": e.data_gaps,
            "outputS3URI": (
                f"s3://amc-sandbox-{e.instance_id}/workflow={e.workflow_id}/schedule=adhoc/{e.id}/"
            ),
        }
        if seen.start is not None:
            doc["startTime"] = iso(seen.start)
        if seen.end is not None:
            doc["endTime"] = iso(seen.end)
        if seen.failure_reason:
            doc["failureReason"] = seen.failure_reason
        if seen.status == "FAILED":
            doc["validationErrors"] = []
        if e.transient:
            doc["workflow"] = {"sqlQuery": e.sql}
        return doc

    def get_execution(self, instance_id: str, execution_id: str) -> Execution:
        execution = self.store.get_execution(instance_id, execution_id)
        if execution is None:
            raise ApiError(
                404, f"Workflow execution {execution_id} not found in instance {instance_id}"
            )
        return execution

    def list_executions(self, instance_id: str, params) -> dict[str, Any]:
        now = time.time()
        limit = as_int(params.get("limit") or 100, "limit")
        if not 1 <= limit <= 1000:
            raise bad_request("limit must be between 1 and 1000")
        after = self._decode_token(params.get("nextToken"))
        workflow_id = params.get("workflowId")
        min_created = params.get("minCreationTime")
        min_ts = self._parse_instant(min_created, "minCreationTime") if min_created else None
        items = []
        next_token = None
        for e in self.store.instance_executions(instance_id):
            if e.seq <= after:
                continue
            if workflow_id and e.workflow_id != workflow_id:
                continue
            if min_ts is not None and e.created_at < min_ts:
                continue
            if len(items) == limit:
                next_token = self._encode_token(items[-1][0])
                break
            items.append((e.seq, e))
        out: dict[str, Any] = {"executions": [self.execution_doc(e, now) for _, e in items]}
        if next_token:
            out["nextToken"] = next_token
        return out

    @staticmethod
    def _encode_token(seq: int) -> str:
        return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str | None) -> int:
        if not token:
            return 0
        try:
            padded = token + "=" * (-len(token) % 4)
            text = base64.urlsafe_b64decode(padded.encode()).decode()
            kind, _, value = text.partition(":")
            if kind != "after":
                raise ValueError(kind)
            return int(value)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Invalid nextToken") from None

    @staticmethod
    def _parse_instant(value: str, name: str) -> float:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise bad_request(f"Invalid {name} '{value}'") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()

    def update_execution(self, instance_id: str, execution_id: str, body: Any) -> dict[str, Any]:
        execution = self.get_execution(instance_id, execution_id)
        if not isinstance(body, dict) or str(body.get("status", "")).upper() != "CANCELLED":
            raise bad_request('Only {"status": "CANCELLED"} is supported')
        return self.cancel(execution)

    def cancel(self, execution: Execution) -> dict[str, Any]:
        now = time.time()
        seen = self.scheduler.observe(execution, now)  # a query still running is not cancellable
        if seen.status not in ("PENDING", "RUNNING"):
            raise bad_request(
                f"Workflow execution {execution.id} cannot be cancelled: its status is "
                f"{seen.status} (only PENDING or RUNNING executions can be cancelled)"
            )
        execution.cancel_time = now
        self.store.update_execution(execution)
        return self.execution_doc(execution, now)

    def download_urls(self, instance_id: str, execution_id: str, base_url: str) -> list[str]:
        execution = self.get_execution(instance_id, execution_id)
        now = time.time()
        seen = self.observe(execution, now)
        if seen.status != "SUCCEEDED":
            raise bad_request(
                f"Workflow execution {execution_id} is {seen.status}: its results are unavailable "
                "for download"
            )
        s = self.faults.settings(instance_id)
        expires = int(s["url_expires_seconds"])
        issued = now
        if self.faults.take("no_urls_next", instance_id):
            return []
        if s["expired_urls"] or self.faults.take("expired_urls_next", instance_id):
            issued = now - expires - 60
        return [
            results.presigned_url(
                base_url, self.url_key, execution.result_key, part, issued, expires, self.url_epoch
            )
            for part in range(max(1, execution.parts))
        ]

    def expire_urls(self) -> None:
        """Make every URL issued so far expired (as if 10 minutes had passed)."""
        self.url_epoch += 1
        self.store.set_meta("url_epoch", str(self.url_epoch))

    # -- workflows ------------------------------------------------------------------------------

    def create_workflow(self, instance_id: str, body: Any) -> dict[str, Any]:
        doc = check_workflow_body(body)
        if self.store.get_workflow(instance_id, doc["workflowId"]) is not None:
            raise bad_request(f"Workflow '{doc['workflowId']}' already exists")
        now = iso(time.time())
        doc.update({"createTime": now, "updateTime": now, "instanceId": instance_id})
        self.store.put_workflow(instance_id, doc["workflowId"], doc)
        return doc

    def get_workflow(self, instance_id: str, workflow_id: str) -> dict[str, Any]:
        doc = self.store.get_workflow(instance_id, workflow_id)
        if doc is None:
            raise ApiError(404, f"Workflow '{workflow_id}' not found in instance {instance_id}")
        return doc

    def update_workflow(self, instance_id: str, workflow_id: str, body: Any) -> dict[str, Any]:
        old = self.get_workflow(instance_id, workflow_id)
        doc = check_workflow_body(body, workflow_id=workflow_id)
        doc.update(
            {
                "createTime": old.get("createTime"),
                "updateTime": iso(time.time()),
                "instanceId": instance_id,
            }
        )
        self.store.put_workflow(instance_id, workflow_id, doc)
        return doc

    def delete_workflow(self, instance_id: str, workflow_id: str) -> None:
        if not self.store.delete_workflow(instance_id, workflow_id):
            raise ApiError(404, f"Workflow '{workflow_id}' not found in instance {instance_id}")

    def list_workflows(self, instance_id: str, params) -> dict[str, Any]:
        limit = as_int(params.get("limit") or 100, "limit")
        offset = self._decode_token(params.get("nextToken"))
        docs = self.store.instance_workflows(instance_id)
        page = docs[offset : offset + limit]
        out: dict[str, Any] = {"workflows": page}
        if offset + limit < len(docs):
            out["nextToken"] = self._encode_token(offset + limit)
        return out

    # -- accounts and instances -----------------------------------------------------------------

    def accounts(self) -> dict[str, Any]:
        return {
            "amcAccounts": [
                {
                    "accountId": SANDBOX_ADVERTISER_ID,
                    "accountName": "AMC Sandbox",
                    "marketplaceId": SANDBOX_MARKETPLACE_ID,
                }
            ]
        }

    def instances(self) -> dict[str, Any]:
        ids = {SANDBOX_INSTANCE_ID}
        ids.update((self.faults.effective.get("instances") or {}).keys())
        ids.update(self.store.by_instance.keys())
        return {
            "instances": [
                {
                    "instanceId": i,
                    "instanceName": f"Sandbox {i}",
                    "instanceType": "SANDBOX",
                    "creationStatus": "COMPLETED",
                    "dataUploadAwsAccountId": "000000000000",
                }
                for i in sorted(ids)
            ]
        }

    # -- admin ----------------------------------------------------------------------------------

    def executions_report(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for e in self.store.all_executions():
            if instance_id and e.instance_id != instance_id:
                continue
            seen = self.observe(e, now)
            out.append(
                {
                    "execution_id": e.id,
                    "instance_id": e.instance_id,
                    "seq": e.seq,
                    "workflow_id": e.workflow_id,
                    "sql": e.sql,
                    "time_window_start": e.window_start,
                    "time_window_end": e.window_end,
                    "time_window_time_zone": e.time_zone,
                    "parameter_values": e.parameter_values,
                    "status": seen.status,
                    "create_time": iso(e.created_at),
                    "start_time": iso(seen.start),
                    "end_time": iso(seen.end),
                    "created_at": e.created_at,
                    "started_at": seen.start,
                    "ended_at": seen.end,
                    "cancelled_at": e.cancel_time,
                    "failure_reason": seen.failure_reason,
                    "planned_outcome": e.outcome,
                    "response_had_id": not e.missing_id,
                    "rows": e.rows,
                    "runs_sql": e.runs_sql,
                    "data_as_of": iso(e.data_as_of) if e.runs_sql else None,
                    "impressions_per_day": e.impressions_per_day if e.runs_sql else None,
                    "parts": e.parts,
                    "csv_fault": e.csv_fault,
                }
            )
        return out

    def stats(self) -> dict[str, Any]:
        now = time.time()
        max_running: dict[str, int] = {}
        max_in_flight: dict[str, int] = {}
        by_status: dict[str, dict[str, int]] = {}
        for instance_id, executions in self.store.by_instance.items():
            running: list[tuple[float, float]] = []
            in_flight: list[tuple[float, float]] = []
            counts: dict[str, int] = {}
            for e in executions:
                seen = self.scheduler.observe(e, now)
                counts[seen.status] = counts.get(seen.status, 0) + 1
                end = seen.end if seen.end is not None else now
                if seen.start is not None:
                    running.append((seen.start, end if seen.end is not None else now + 1e-9))
                in_flight.append((e.created_at, end if seen.end is not None else now + 1e-9))
            max_running[instance_id] = max_concurrency(running)
            max_in_flight[instance_id] = max_concurrency(in_flight)
            by_status[instance_id] = counts
        return {
            "executions_total": len(self.store.executions),
            "executions_lost": self.lost,
            "executions_by_status": by_status,
            "max_running_per_instance": max_running,
            "max_in_flight_per_instance": max_in_flight,
            "requests_total": self.request_counter,
            "uptime_seconds": round(time.time() - self.started_at, 3),
        }

    def reset(self, options: dict[str, Any]) -> dict[str, Any]:
        executions = bool(options.get("executions", True))
        workflows = bool(options.get("workflows", True))
        tokens = bool(options.get("tokens", False))
        config = bool(options.get("config", True))
        self.store.reset(executions=executions, workflows=workflows, tokens=tokens)
        if executions:
            self.sql_runs.clear()
            self.files.clear()
            self.scheduler.invalidate()
            self.lost = 0
        if config:
            self.faults.reset()
        if options.get("requests", True):
            self.requests.clear()
        return {
            "reset": {
                "executions": executions,
                "workflows": workflows,
                "tokens": tokens,
                "config": config,
            }
        }

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "service": "amc-sandbox",
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
            "started_at": iso(self.started_at),
            "executions": len(self.store.executions),
        }
