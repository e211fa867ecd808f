"""A client for the Amazon Marketing Cloud reporting API (and the local sandbox, which mimics it).

Every AMC call carries the four headers AMC wants (bearer token, client id, advertiser id,
marketplace id). The LwA access token is cached and refreshed before it expires, and once more
when AMC answers 401. 429 (honouring ``Retry-After``), 5xx and connection errors are retried with
exponential backoff and full jitter, within ``retry_budget_seconds`` per call; 400/403/404 and the
like fail at once with :class:`AmcApiError`. Nothing secret reaches the log or an exception.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import requests.adapters

from amc_reports.amc.download import ResultStream
from amc_reports.amc.errors import (
    AmcApiError,
    AmcAuthError,
    AmcCreateOutcomeUnknownError,
    AmcError,
    AmcMissingExecutionIdError,
    AmcRetryBudgetExceeded,
)
from amc_reports.amc.http import (
    describe_exception,
    error_message_of,
    is_connect_failure,
    parse_retry_after,
    request_id_of,
)
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

log = logging.getLogger("amc_reports.amc.client")
install_log_redaction()


# Failures worth another attempt (for a create: only when the request never left, see _amc).
_TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class _TokenCache:
    """The LwA access token, shared by all threads using one client."""

    def __init__(self, client: AmcClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0  # monotonic
        self._refresh_at = 0.0  # monotonic
        self.refresh_count = 0

    def get(self, deadline: float) -> str:
        with self._lock:
            now = time.monotonic()
            if self._token is not None and now < self._refresh_at:
                return self._token
            token, expires_in = self._client._fetch_access_token(deadline)
            register_secret(token)
            margin = min(self._client.config.token_refresh_margin_seconds, expires_in / 4.0)
            self._token = token
            self._expires_at = now + expires_in
            self._refresh_at = now + max(0.0, expires_in - margin)
            self.refresh_count += 1
            return token

    def invalidate(self, token: str | None) -> None:
        with self._lock:
            if token is None or token == self._token:
                self._token = None
                self._refresh_at = 0.0


class AmcClient:
    """Synchronous AMC reporting API client. Safe to share between threads."""

    def __init__(self, config: AmcClientConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Room for many threads sharing one client (the default pool keeps 10 connections).
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._tokens = _TokenCache(self)
        self._rng = random.Random()
        self._sleep: Callable[[float], None] = time.sleep
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
        return ResultStream(self, instance_id, execution_id)

    # -- saved workflows ------------------------------------------------------------------------

    def create_workflow(
        self,
        instance_id: str,
        workflow_id: str,
        sql: str,
        *,
        input_parameters: list[dict] | None = None,
        distinct_user_count_column: str | None = None,
        filtered_metrics_discriminator_column: str | None = None,
        filtered_reason_column: str | None = None,
    ) -> dict:
        body = self._workflow_body(
            workflow_id,
            sql,
            input_parameters,
            distinct_user_count_column,
            filtered_metrics_discriminator_column,
            filtered_reason_column,
        )
        path = f"{self._instance_path(instance_id)}/workflows"
        data = self._json(self._amc("POST", path, json_body=body), "POST", path, allow_empty=True)
        return data if isinstance(data, dict) and data else {"workflowId": workflow_id}

    def get_workflow(self, instance_id: str, workflow_id: str) -> dict:
        path = self._workflow_path(instance_id, workflow_id)
        return self._json(self._amc("GET", path), "GET", path)

    def update_workflow(
        self,
        instance_id: str,
        workflow_id: str,
        sql: str,
        *,
        input_parameters: list[dict] | None = None,
        distinct_user_count_column: str | None = None,
        filtered_metrics_discriminator_column: str | None = None,
        filtered_reason_column: str | None = None,
    ) -> dict:
        body = self._workflow_body(
            workflow_id,
            sql,
            input_parameters,
            distinct_user_count_column,
            filtered_metrics_discriminator_column,
            filtered_reason_column,
        )
        path = self._workflow_path(instance_id, workflow_id)
        data = self._json(self._amc("PUT", path, json_body=body), "PUT", path, allow_empty=True)
        return data if isinstance(data, dict) and data else {"workflowId": workflow_id}

    def delete_workflow(self, instance_id: str, workflow_id: str) -> None:
        self._amc("DELETE", self._workflow_path(instance_id, workflow_id))

    def list_workflows(self, instance_id: str, *, limit: int = 100) -> Iterator[dict]:
        path = f"{self._instance_path(instance_id)}/workflows"
        yield from self._paginate(path, {"limit": int(limit)}, ("workflows",))

    @staticmethod
    def _workflow_body(
        workflow_id: str,
        sql: str,
        input_parameters: list[dict] | None,
        distinct_user_count_column: str | None,
        filtered_metrics_discriminator_column: str | None,
        filtered_reason_column: str | None,
    ) -> dict:
        body: dict[str, Any] = {"workflowId": workflow_id, "sqlQuery": sql}
        if input_parameters:
            body["inputParameters"] = list(input_parameters)
        if distinct_user_count_column:
            body["distinctUserCountColumn"] = distinct_user_count_column
        if filtered_metrics_discriminator_column:
            body["filteredMetricsDiscriminatorColumn"] = filtered_metrics_discriminator_column
        if filtered_reason_column:
            body["filteredReasonColumn"] = filtered_reason_column
        return body

    # -- accounts -------------------------------------------------------------------------------

    def list_accounts(self) -> list[dict]:
        """``GET /amc/accounts``: the AMC accounts (``accountId`` = advertiser entity id)."""
        resp = self._amc("GET", "/amc/accounts", advertiser=False)
        data = self._json(resp, "GET", "/amc/accounts")
        return list(data.get("amcAccounts") or []) if isinstance(data, dict) else []

    def list_instances(self) -> list[dict]:
        """``GET /amc/instances``: the AMC instances of the configured account."""
        data = self._json(self._amc("GET", "/amc/instances"), "GET", "/amc/instances")
        return list(data.get("instances") or []) if isinstance(data, dict) else []

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

    def _backoff(self, attempt: int) -> float:
        exp = self.config.backoff_base_seconds * 2 ** min(attempt - 1, 30)
        cap = min(self.config.backoff_max_seconds, exp)
        return self._rng.uniform(0.0, cap)

    def _retry_delay(self, resp: requests.Response, attempt: int) -> float:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if retry_after is None:
            return self._backoff(attempt)
        return min(retry_after, self.config.max_retry_after_seconds)

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
        url = self.config.api_base_url + path
        body = None if json_body is None else json.dumps(json_body).encode("utf-8")
        budget = self.config.retry_budget_seconds
        started = time.monotonic()
        deadline = started + budget
        attempt = 0
        refreshed_after_401 = False
        last_error = ""
        last_status: int | None = None
        while True:
            attempt += 1
            token = self._tokens.get(deadline)
            headers = self._amc_headers(token, advertiser=advertiser)
            if body is not None:
                headers["Content-Type"] = "application/json"
            t0 = time.monotonic()
            try:
                resp = self._session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                )
            except requests.exceptions.RequestException as exc:
                if not isinstance(exc, _TRANSIENT_ERRORS):
                    raise AmcError(
                        f"AMC {method} {path} failed: {describe_exception(exc)}"
                    ) from None
                if create and not is_connect_failure(exc):
                    raise AmcCreateOutcomeUnknownError(
                        f"AMC POST {path}: the connection failed after the request was sent "
                        f"({describe_exception(exc)}); AMC may or may not have created the "
                        "execution. It is not retried automatically, to avoid paying for a "
                        "duplicate: look for it with list_executions before submitting again."
                    ) from None
                last_error = describe_exception(exc)
                last_status = None
                delay = self._backoff(attempt)
                log.warning(
                    "AMC %s %s: %s (attempt %d); retrying in %.2fs",
                    method,
                    path,
                    last_error,
                    attempt,
                    delay,
                )
            else:
                elapsed_ms = (time.monotonic() - t0) * 1000
                rid = request_id_of(resp)
                log.debug(
                    "AMC %s %s -> HTTP %d in %.0f ms (request id %s)",
                    method,
                    path,
                    resp.status_code,
                    elapsed_ms,
                    rid,
                )
                status = resp.status_code
                if status < 400:
                    return resp
                if status == 401 and not refreshed_after_401:
                    refreshed_after_401 = True
                    log.info("AMC %s %s -> 401; refreshing the access token once", method, path)
                    self._tokens.invalidate(token)
                    resp.close()
                    continue
                if status == 429 or status >= 500:
                    message, _ = error_message_of(resp)
                    last_error = f"HTTP {status}: {message}"
                    last_status = status
                    delay = self._retry_delay(resp, attempt)
                    log.warning(
                        "AMC %s %s -> HTTP %d (request id %s, attempt %d); retrying in %.2fs",
                        method,
                        path,
                        status,
                        rid,
                        attempt,
                        delay,
                    )
                    resp.close()
                else:
                    raise self._api_error(resp, method, path)
            elapsed = time.monotonic() - started
            if elapsed + delay > budget:
                raise AmcRetryBudgetExceeded(
                    method=method,
                    path=path,
                    attempts=attempt,
                    elapsed_seconds=elapsed,
                    last_error=last_error,
                    last_status=last_status,
                )
            self._sleep(delay)

    @staticmethod
    def _api_error(resp: requests.Response, method: str, path: str) -> AmcApiError:
        message, code = error_message_of(resp)
        return AmcApiError(
            resp.status_code,
            message,
            request_id=request_id_of(resp),
            method=method,
            path=path,
            code=code,
        )

    def _fetch_access_token(self, deadline: float) -> tuple[str, float]:
        """Exchange the refresh token for an access token at LwA (with retries until deadline)."""
        creds = self.config.credentials
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        token_path = urlsplit(self.config.token_url).path or "/"
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._session.post(
                    self.config.token_url,
                    data=form,
                    headers={"Accept": "application/json", "User-Agent": self.config.user_agent},
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                )
            except requests.exceptions.RequestException as exc:
                last_error = describe_exception(exc)
                last_status = None
                delay = self._backoff(attempt)
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        data = resp.json()
                    except ValueError:
                        data = None
                    token = data.get("access_token") if isinstance(data, dict) else None
                    if not isinstance(token, str) or not token:
                        raise AmcAuthError(
                            status,
                            "token endpoint answered 200 without an access_token",
                            request_id=request_id_of(resp),
                            method="POST",
                            path=token_path,
                        )
                    try:
                        expires_in = float(data.get("expires_in") or 3600)
                    except (TypeError, ValueError):
                        expires_in = 3600.0
                    register_secret(token)
                    log.debug("obtained an LwA access token (expires in %.0fs)", expires_in)
                    return token, max(1.0, expires_in)
                if status == 429 or status >= 500:
                    message, _ = error_message_of(resp)
                    last_error = f"HTTP {status}: {message}"
                    last_status = status
                    delay = self._retry_delay(resp, attempt)
                else:
                    message, code = error_message_of(resp)
                    raise AmcAuthError(
                        status,
                        f"Login with Amazon refused the token refresh: {message}",
                        request_id=request_id_of(resp),
                        method="POST",
                        path=token_path,
                        code=code,
                    )
            log.warning(
                "LwA token refresh: %s (attempt %d); retrying in %.2fs", last_error, attempt, delay
            )
            if time.monotonic() + delay > deadline:
                raise AmcRetryBudgetExceeded(
                    method="POST",
                    path=token_path,
                    attempts=attempt,
                    elapsed_seconds=time.monotonic() - started,
                    last_error=last_error,
                    last_status=last_status,
                )
            self._sleep(delay)

    def _download_request(
        self, url: str, *, offset: int, deadline: float, allow_range: bool = True
    ) -> requests.Response:
        """GET one result part (no AMC headers: the URL is pre-signed). Retries 429/5xx and
        connection errors until ``deadline``; returns any other response to the caller."""
        headers = {"Accept-Encoding": "identity", "User-Agent": self.config.user_agent}
        if offset > 0 and allow_range:
            headers["Range"] = f"bytes={offset}-"
        shown = redact_url(url)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._session.get(
                    url,
                    headers=headers,
                    stream=True,
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                )
            except requests.exceptions.RequestException as exc:
                last_error = describe_exception(exc)
                last_status = None
                delay = self._backoff(attempt)
            else:
                status = resp.status_code
                log.debug("download GET %s (offset %d) -> HTTP %d", shown, offset, status)
                if not (status == 429 or status >= 500):
                    return resp
                message, _ = error_message_of(resp)
                last_error = f"HTTP {status}: {message}"
                last_status = status
                delay = self._retry_delay(resp, attempt)
                resp.close()
            log.warning(
                "download GET %s: %s (attempt %d); retrying in %.2fs",
                shown,
                last_error,
                attempt,
                delay,
            )
            if time.monotonic() + delay > deadline:
                raise AmcRetryBudgetExceeded(
                    method="GET",
                    path=urlsplit(url).path,
                    attempts=attempt,
                    elapsed_seconds=time.monotonic() - started,
                    last_error=last_error,
                    last_status=last_status,
                )
            self._sleep(delay)
