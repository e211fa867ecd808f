"""A client for the Amazon Marketing Cloud reporting API (and the local sandbox, which mimics it).

Every AMC call carries the four headers AMC wants (bearer token, client id, advertiser id,
marketplace id). The LwA access token comes from :class:`LwaTokenProvider` (cached, refreshed
before it expires, and once more when AMC answers 401). Every request goes through one
:class:`RequestEngine`: 429 (honouring ``Retry-After``), 5xx and connection errors are retried
with exponential backoff and full jitter, within ``retry_budget_seconds`` per call; 400/403/404
and the like fail at once with :class:`AmcApiError`. Nothing secret reaches the log or an
exception.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict, Unpack
from urllib.parse import quote, urlsplit

import requests
import requests.adapters

from amc_reports.amc.auth import LwaTokenProvider
from amc_reports.amc.download import ResultSource, ResultStream
from amc_reports.amc.errors import AmcApiError, AmcError, AmcMissingExecutionIdError
from amc_reports.amc.http import error_message_of, request_id_of
from amc_reports.amc.models import (
    AmcClientConfig,
    ExecutionRecord,
    format_amc_timestamp,
    format_window_time,
)
from amc_reports.amc.redact import (
    install_log_redaction,
    redact_mapping,
    redact_url,
    register_secret,
)
from amc_reports.amc.retry import Backoff, RequestEngine, RetryRule

log = logging.getLogger("amc_reports.amc.client")
install_log_redaction()

# AMC API calls: 429 and 5xx wait and retry, a 401 refreshes the token once.
AMC_RULE = RetryRule(reauthenticate_statuses=frozenset({401}))
# A create is sent again only when it certainly never reached AMC: a second execution costs money.
AMC_CREATE_RULE = replace(
    AMC_RULE,
    resend_after_sent=False,
    unknown_outcome_advice=(
        "AMC may or may not have created the execution. It is not retried automatically, to "
        "avoid paying for a duplicate: look for it with list_executions before submitting again."
    ),
)
# Pre-signed result parts: 429 and 5xx (S3's SlowDown) wait and retry; 403 etc. go to the stream.
DOWNLOAD_RULE = RetryRule()


class WorkflowOptions(TypedDict, total=False):
    """Optional fields of a saved workflow (``create_workflow``, ``update_workflow``)."""

    input_parameters: list[dict] | None
    distinct_user_count_column: str | None
    filtered_metrics_discriminator_column: str | None
    filtered_reason_column: str | None


_WORKFLOW_FIELDS = {
    "input_parameters": "inputParameters",
    "distinct_user_count_column": "distinctUserCountColumn",
    "filtered_metrics_discriminator_column": "filteredMetricsDiscriminatorColumn",
    "filtered_reason_column": "filteredReasonColumn",
}


class AmcClient:
    """Synchronous AMC reporting API client. Safe to share between threads."""

    def __init__(
        self,
        config: AmcClientConfig,
        *,
        session: requests.Session | None = None,
        tokens: LwaTokenProvider | None = None,
    ) -> None:
        """``tokens``: a provider shared with other clients of the same credentials (see
        :class:`~amc_reports.amc.auth.TokenCache`); by default the client has its own."""
        self.config = config
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Room for many threads sharing one client (the default pool keeps 10 connections).
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._engine = RequestEngine(
            Backoff(
                base_seconds=config.backoff_base_seconds,
                max_seconds=config.backoff_max_seconds,
                max_retry_after_seconds=config.max_retry_after_seconds,
            )
        )
        self._tokens = (
            tokens
            if tokens is not None
            else LwaTokenProvider(
                token_url=config.token_url,
                credentials=config.credentials,
                session=session,
                engine=self._engine,
                timeout=self._timeout,
                user_agent=config.user_agent,
                refresh_margin_seconds=config.token_refresh_margin_seconds,
            )
        )
        register_secret(config.credentials.client_secret)
        register_secret(config.credentials.refresh_token)

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> AmcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"AmcClient(api_base_url={self.config.api_base_url!r}, "
            f"advertiser_id={self.config.advertiser_id!r}, "
            f"marketplace_id={self.config.marketplace_id!r})"
        )

    # -- executions -----------------------------------------------------------------------------

    def create_execution(
        self,
        instance_id: str,
        *,
        sql: str | None = None,
        workflow_id: str | None = None,
        time_window_start: str | datetime,
        time_window_end: str | datetime,
        time_zone: str,
        parameter_values: Mapping[str, Any] | None = None,
        ignore_data_gaps: bool = False,
        timeout_seconds: int | None = None,
        output_format: str = "CSV",
    ) -> ExecutionRecord:
        """Submit an execution of ad hoc ``sql`` or of the saved ``workflow_id`` over an explicit
        window (wall-clock ``YYYY-MM-DDTHH:MM:SS`` in ``time_zone``)."""
        if (sql is None) == (workflow_id is None):
            raise ValueError("create_execution needs exactly one of sql= or workflow_id=")
        if sql is not None and not sql.strip():
            raise ValueError("create_execution: sql is empty")
        if not time_zone:
            raise ValueError("create_execution: time_zone is required (e.g. 'America/New_York')")
        body: dict[str, Any] = {
            "timeWindowType": "EXPLICIT",
            "timeWindowStart": format_window_time(time_window_start),
            "timeWindowEnd": format_window_time(time_window_end),
            "timeWindowTimeZone": time_zone,
            "ignoreDataGaps": bool(ignore_data_gaps),
            "outputFormat": output_format,
        }
        if sql is not None:
            body["workflow"] = {"sqlQuery": sql}
        else:
            body["workflowId"] = workflow_id
        if parameter_values:
            body["parameterValues"] = dict(parameter_values)
        if timeout_seconds is not None:
            body["workflowExecutionTimeoutSeconds"] = int(timeout_seconds)

        path = f"{self._instance_path(instance_id)}/workflowExecutions"
        resp = self._amc("POST", path, json_body=body, create=True)
        data = self._json(resp, "POST", path, allow_empty=True)
        data = data if isinstance(data, dict) else {}
        execution_id = self._new_execution_id(data, resp)
        if not execution_id:
            raise AmcMissingExecutionIdError(
                instance_id=instance_id,
                status_code=resp.status_code,
                request_id=request_id_of(resp),
                response_body=redact_mapping(data),
            )
        record = ExecutionRecord.from_api(data, execution_id=execution_id)
        log.info(
            "created AMC execution %s on instance %s (window %s..%s %s, status %s)",
            execution_id,
            instance_id,
            body["timeWindowStart"],
            body["timeWindowEnd"],
            time_zone,
            record.status.value,
        )
        return record

    @staticmethod
    def _new_execution_id(data: Mapping[str, Any], resp: requests.Response) -> str | None:
        value = data.get("workflowExecutionId")
        if isinstance(value, str) and value.strip():
            return value.strip()
        location = resp.headers.get("Location") or resp.headers.get("location")
        if location:
            path = urlsplit(location).path.rstrip("/")
            head, _, last = path.rpartition("/")
            if last and head.endswith("workflowExecutions"):
                return last
        return None

    def get_execution(self, instance_id: str, execution_id: str) -> ExecutionRecord:
        path = self._execution_path(instance_id, execution_id)
        data = self._json(self._amc("GET", path), "GET", path)
        return ExecutionRecord.from_api(data, execution_id=execution_id)

    def list_executions(
        self,
        instance_id: str,
        *,
        workflow_id: str | None = None,
        min_creation_time: str | datetime | None = None,
        limit: int = 100,
    ) -> Iterator[ExecutionRecord]:
        """All executions of the instance (optionally filtered), following ``nextToken``."""
        path = f"{self._instance_path(instance_id)}/workflowExecutions"
        params: dict[str, Any] = {"limit": int(limit)}
        if workflow_id:
            params["workflowId"] = workflow_id
        if min_creation_time is not None:
            params["minCreationTime"] = format_amc_timestamp(min_creation_time)
        for item in self._paginate(path, params, ("executions", "workflowExecutions")):
            yield ExecutionRecord.from_api(item)

    def cancel_execution(self, instance_id: str, execution_id: str) -> ExecutionRecord:
        """Cancel a PENDING or RUNNING execution. AMC refuses (400) once it has finished."""
        path = self._execution_path(instance_id, execution_id)
        try:
            resp = self._amc("PUT", path, json_body={"status": "CANCELLED"})
        except AmcApiError as exc:
            if exc.status_code != 400:
                raise
            # A cancel whose response was lost and then retried is refused the second time:
            # report success when the execution is in fact cancelled.
            current = self.get_execution(instance_id, execution_id)
            if current.status.value == "CANCELLED":
                return current
            raise
        data = self._json(resp, "PUT", path, allow_empty=True)
        if isinstance(data, dict) and data.get("status"):
            return ExecutionRecord.from_api(data, execution_id=execution_id)
        return self.get_execution(instance_id, execution_id)

    def get_download_urls(self, instance_id: str, execution_id: str) -> list[str]:
        """Pre-signed URLs of the result parts (valid for minutes; never log them)."""
        path = f"{self._execution_path(instance_id, execution_id)}/downloadUrls"
        data = self._json(self._amc("GET", path), "GET", path)
        urls = data.get("downloadUrls") if isinstance(data, dict) else None
        if not isinstance(urls, list):
            raise AmcError(f"AMC GET {path} returned no downloadUrls list")
        out: list[str] = []
        for item in urls:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                out.append(item["url"])
        return out

    def open_result(self, instance_id: str, execution_id: str) -> ResultStream:
        """The result CSV of a SUCCEEDED execution as one byte stream with one header line."""
        return ResultStream(
            self.result_source(instance_id, execution_id),
            retry_budget_seconds=self.config.retry_budget_seconds,
            max_url_refreshes=self.config.max_url_refreshes,
        )

    def result_source(self, instance_id: str, execution_id: str) -> ResultSource:
        """What a :class:`ResultStream` reads the execution's result parts through."""
        return _ExecutionResult(self, instance_id, execution_id)

    # -- saved workflows ------------------------------------------------------------------------

    def create_workflow(
        self, instance_id: str, workflow_id: str, sql: str, **options: Unpack[WorkflowOptions]
    ) -> dict:
        """Save ``sql`` as workflow ``workflow_id`` (options: :class:`WorkflowOptions`)."""
        path = f"{self._instance_path(instance_id)}/workflows"
        return self._save_workflow("POST", path, workflow_id, sql, options)

    def update_workflow(
        self, instance_id: str, workflow_id: str, sql: str, **options: Unpack[WorkflowOptions]
    ) -> dict:
        """Replace the saved workflow ``workflow_id`` (options: :class:`WorkflowOptions`)."""
        path = self._workflow_path(instance_id, workflow_id)
        return self._save_workflow("PUT", path, workflow_id, sql, options)

    def get_workflow(self, instance_id: str, workflow_id: str) -> dict:
        path = self._workflow_path(instance_id, workflow_id)
        return self._json(self._amc("GET", path), "GET", path)

    def delete_workflow(self, instance_id: str, workflow_id: str) -> None:
        self._amc("DELETE", self._workflow_path(instance_id, workflow_id))

    def list_workflows(self, instance_id: str, *, limit: int = 100) -> Iterator[dict]:
        path = f"{self._instance_path(instance_id)}/workflows"
        yield from self._paginate(path, {"limit": int(limit)}, ("workflows",))

    def _save_workflow(
        self, method: str, path: str, workflow_id: str, sql: str, options: Mapping[str, Any]
    ) -> dict:
        unknown = sorted(set(options) - set(_WORKFLOW_FIELDS))
        if unknown:
            raise TypeError(f"unexpected workflow option(s): {', '.join(unknown)}")
        body: dict[str, Any] = {"workflowId": workflow_id, "sqlQuery": sql}
        for name, key in _WORKFLOW_FIELDS.items():
            value = options.get(name)
            if value:
                body[key] = list(value) if isinstance(value, list) else value
        data = self._json(self._amc(method, path, json_body=body), method, path, allow_empty=True)
        return data if isinstance(data, dict) and data else {"workflowId": workflow_id}

    # -- accounts -------------------------------------------------------------------------------

    def list_accounts(self) -> list[dict]:
        """``GET /amc/accounts``: the AMC accounts (``accountId`` = advertiser entity id)."""
        resp = self._amc("GET", "/amc/accounts", advertiser=False)
        data = self._json(resp, "GET", "/amc/accounts")
        return list(data.get("amcAccounts") or []) if isinstance(data, dict) else []

    def list_instances(self) -> list[dict]:
        """``GET /amc/instances``: the AMC instances of the configured account (every page)."""
        return list(self._paginate("/amc/instances", {}, ("instances",)))

    # -- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _instance_path(instance_id: str) -> str:
        if not instance_id:
            raise ValueError("instance_id is required")
        return f"/amc/reporting/{quote(instance_id, safe='')}"

    def _execution_path(self, instance_id: str, execution_id: str) -> str:
        if not execution_id:
            raise ValueError("execution_id is required")
        quoted = quote(execution_id, safe="")
        return f"{self._instance_path(instance_id)}/workflowExecutions/{quoted}"

    def _workflow_path(self, instance_id: str, workflow_id: str) -> str:
        if not workflow_id:
            raise ValueError("workflow_id is required")
        return f"{self._instance_path(instance_id)}/workflows/{quote(workflow_id, safe='')}"

    def _paginate(self, path: str, params: dict[str, Any], keys: tuple[str, ...]) -> Iterator[dict]:
        seen_tokens: set[str] = set()
        while True:
            data = self._json(self._amc("GET", path, params=params), "GET", path)
            items: list = []
            if isinstance(data, dict):
                for key in keys:
                    if isinstance(data.get(key), list):
                        items = data[key]
                        break
            for item in items:
                if isinstance(item, dict):
                    yield item
            token = data.get("nextToken") if isinstance(data, dict) else None
            if not token or token in seen_tokens:
                return
            seen_tokens.add(token)
            params = {**params, "nextToken": token}

    @staticmethod
    def _json(resp: requests.Response, method: str, path: str, *, allow_empty: bool = False) -> Any:
        if not resp.content:
            if allow_empty:
                return {}
            raise AmcError(f"AMC {method} {path} returned an empty body (HTTP {resp.status_code})")
        try:
            return resp.json()
        except ValueError:
            if allow_empty:
                return {}
            raise AmcError(
                f"AMC {method} {path} returned a body that is not JSON (HTTP {resp.status_code})"
            ) from None

    def _amc_headers(self, token: str, *, advertiser: bool = True) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Amazon-Advertising-API-ClientId": self.config.credentials.client_id,
            "Accept": "application/json",
            "User-Agent": self.config.user_agent,
        }
        if advertiser:
            headers["Amazon-Advertising-API-AdvertiserId"] = self.config.advertiser_id
            headers["Amazon-Advertising-API-MarketplaceId"] = self.config.marketplace_id
        return headers

    def _amc(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        create: bool = False,
        advertiser: bool = True,
    ) -> requests.Response:
        """One AMC API call with auth, retries and error mapping; returns a 2xx response."""
        if advertiser and not self.config.has_account:
            raise ValueError(
                f"AMC {method} {path} needs an AMC account, and this client has none "
                "(advertiser_id, marketplace_id): it can only list accounts"
            )
        url = self.config.api_base_url + path
        body = None if json_body is None else json.dumps(json_body).encode("utf-8")
        deadline = time.monotonic() + self.config.retry_budget_seconds
        sent_token: str | None = None

        def send() -> requests.Response:
            nonlocal sent_token
            sent_token = self._tokens.get(deadline)
            headers = self._amc_headers(sent_token, advertiser=advertiser)
            if body is not None:
                headers["Content-Type"] = "application/json"
            return self._session.request(
                method, url, params=params, data=body, headers=headers, timeout=self._timeout
            )

        resp = self._engine.send(
            send,
            rule=AMC_CREATE_RULE if create else AMC_RULE,
            deadline=deadline,
            method=method,
            path=path,
            label=f"AMC {method} {path}",
            reauthenticate=lambda: self._tokens.invalidate(sent_token),
        )
        if resp.status_code >= 400:
            message, code = error_message_of(resp)
            raise AmcApiError(
                resp.status_code,
                message,
                request_id=request_id_of(resp),
                method=method,
                path=path,
                code=code,
            )
        return resp

    def _fetch_part(self, url: str, *, offset: int, deadline: float) -> requests.Response:
        """GET one result part from byte ``offset`` (no AMC headers: the URL is pre-signed)."""
        headers = {"Accept-Encoding": "identity", "User-Agent": self.config.user_agent}
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
        label = f"download GET {redact_url(url)}" + (f" from byte {offset}" if offset else "")

        def send() -> requests.Response:
            return self._session.get(url, headers=headers, stream=True, timeout=self._timeout)

        return self._engine.send(
            send,
            rule=DOWNLOAD_RULE,
            deadline=deadline,
            method="GET",
            path=urlsplit(url).path,
            label=label,
        )


@dataclass(frozen=True)
class _ExecutionResult:
    """The :class:`ResultSource` of one execution: URLs from AMC, parts through the client."""

    client: AmcClient
    instance_id: str
    execution_id: str

    def download_urls(self) -> list[str]:
        return self.client.get_download_urls(self.instance_id, self.execution_id)

    def fetch_part(self, url: str, *, offset: int, deadline: float) -> requests.Response:
        return self.client._fetch_part(url, offset=offset, deadline=deadline)
