"""HTTP routes of the AMC sandbox (Starlette): LwA, AMC reporting API, S3-like downloads, admin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amc_reports.amc.redact import redact_text
from amc_reports.local.process import IdleClock
from amc_reports.local.sandbox import results
from amc_reports.local.sandbox.constants import MAX_BODY_BYTES, MAX_TOKEN_BODY_BYTES, TOKEN_PATH
from amc_reports.local.sandbox.faults import ConfigError
from amc_reports.local.sandbox.service import LwaError, SandboxService
from amc_reports.local.sandbox.validation import ApiError, as_int, parse_json_body

log = logging.getLogger("amc_reports.local.sandbox")
access_log = logging.getLogger("amc_reports.local.sandbox.access")

_JSON_HEADERS = {"content-type": "application/json"}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str).encode("utf-8")
    return Response(body, status_code=status, headers={**_JSON_HEADERS, **(headers or {})})


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def _error(exc: ApiError, request: Request) -> Response:
    body = {"code": str(exc.status), "details": exc.details, "requestId": _request_id(request)}
    return _json(body, exc.status, exc.headers)


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _svc(request: Request) -> SandboxService:
    return request.app.state.svc


def _note(request: Request, fault: str) -> None:
    request.scope.setdefault("state", {})["fault"] = fault


# -- AMC API guard: faults, then auth ----------------------------------------------------------


def amc_endpoint(handler: Callable[..., Any], *, need_account: bool = True):
    async def endpoint(request: Request) -> Response:
        svc = _svc(request)
        instance_id = request.path_params.get("instance_id")
        try:
            settings = svc.faults.settings(instance_id)
            delay = settings["response_delay_seconds"]
            if delay:
                await asyncio.sleep(delay)
            retry_after = svc.faults.throttle(instance_id, time.monotonic())
            if retry_after is not None:
                _note(request, "throttled")
                raise ApiError(
                    429, "Too Many Requests", headers={"Retry-After": _fmt_seconds(retry_after)}
                )
            if svc.faults.fault("error_next", "error_rate", instance_id):
                _note(request, "error")
                raise ApiError(500, "Internal Server Error (sandbox fault injection)")
            advertiser, marketplace = svc.authenticate(request.headers, need_account=need_account)
            return await handler(request, svc, instance_id, advertiser, marketplace)
        except ApiError as exc:
            return _error(exc, request)

    endpoint.__name__ = handler.__name__
    return endpoint


async def _body(request: Request) -> Any:
    return parse_json_body(await request.body())


async def create_execution(request, svc: SandboxService, instance_id, advertiser, marketplace):
    body = await _body(request)
    execution, doc, headers = await svc.create_execution_async(
        instance_id, body, advertiser, marketplace
    )
    if svc.faults.take("drop_create_next", instance_id):
        _note(request, "dropped_create")
        log.info("fault injection: created execution %s, then cut the connection", execution.id)
        return _CutResponse()
    if execution.missing_id:
        _note(request, "missing_id")
    log.info(
        "created execution %s on %s (%s..%s %s)",
        execution.id,
        instance_id,
        execution.window_start,
        execution.window_end,
        execution.time_zone,
    )
    return _json(doc, 200, headers)


async def list_executions(request, svc: SandboxService, instance_id, *_):
    return _json(svc.list_executions(instance_id, request.query_params))


async def get_execution(request, svc: SandboxService, instance_id, *_):
    execution = svc.get_execution(instance_id, request.path_params["execution_id"])
    return _json(svc.execution_doc(execution, time.time()))


async def update_execution(request, svc: SandboxService, instance_id, *_):
    body = await _body(request)
    doc = svc.update_execution(instance_id, request.path_params["execution_id"], body)
    log.info("cancelled execution %s on %s", doc["workflowExecutionId"], instance_id)
    return _json(doc)


async def delete_execution(request, svc: SandboxService, instance_id, *_):
    execution = svc.get_execution(instance_id, request.path_params["execution_id"])
    return _json(svc.cancel(execution))


async def download_urls(request, svc: SandboxService, instance_id, *_):
    base = str(request.base_url).rstrip("/")
    urls = svc.download_urls(instance_id, request.path_params["execution_id"], base)
    return _json({"downloadUrls": urls})


async def create_workflow(request, svc: SandboxService, instance_id, *_):
    return _json(svc.create_workflow(instance_id, await _body(request)))


async def list_workflows(request, svc: SandboxService, instance_id, *_):
    return _json(svc.list_workflows(instance_id, request.query_params))


async def get_workflow(request, svc: SandboxService, instance_id, *_):
    return _json(svc.get_workflow(instance_id, request.path_params["workflow_id"]))


async def update_workflow(request, svc: SandboxService, instance_id, *_):
    body = await _body(request)
    return _json(svc.update_workflow(instance_id, request.path_params["workflow_id"], body))


async def delete_workflow(request, svc: SandboxService, instance_id, *_):
    svc.delete_workflow(instance_id, request.path_params["workflow_id"])
    return Response(status_code=204)


async def accounts(request, svc: SandboxService, *_):
    return _json(svc.accounts())


async def instances(request, svc: SandboxService, *_):
    return _json(svc.instances())


# -- Login with Amazon -----------------------------------------------------------------------------


async def lwa_token(request: Request) -> Response:
    svc = _svc(request)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    form: dict[str, str]
    try:
        if "json" in content_type or raw.lstrip().startswith(b"{"):
            data = json.loads(raw.decode("utf-8") or "{}")
            form = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        form = {}
    try:
        return _json(svc.issue_token(form))
    except LwaError as exc:
        body = {"error": exc.error, "error_description": exc.description}
        return _json(body, exc.status)


# -- S3-like downloads -----------------------------------------------------------------------------


class _CutResponse:
    """Headers promising a body that never comes: the client sees the connection break after
    its request was handled (as when a network drops AMC's answer)."""

    async def __call__(self, scope, receive, send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"512")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"workflowExecut', "more_body": True})
        # Returning now makes uvicorn close the connection mid-body.


class _FileResponse:
    """Serve a byte range of a file; optionally cut the connection after ``drop_after`` bytes."""

    def __init__(
        self,
        path: Path,
        start: int,
        end: int,
        size: int,
        status: int,
        headers: dict[str, str],
        drop_after: int | None,
    ) -> None:
        self.path, self.start, self.end, self.size = path, start, end, size
        self.status, self.headers, self.drop_after = status, headers, drop_after

    async def __call__(self, scope, receive, send) -> None:
        length = self.end - self.start
        headers = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        sent = 0
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            while sent < length:
                n = min(1 << 16, length - sent)
                if self.drop_after is not None:
                    n = min(n, max(0, self.drop_after - sent))
                    if n == 0:
                        log.info(
                            "fault injection: dropping a download connection after %d bytes", sent
                        )
                        return  # uvicorn closes the connection: the client sees a short body
                chunk = fh.read(n)
                if not chunk:
                    break
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _s3_error(status: int, code: str, message: str, request: Request, **headers: str) -> Response:
    xml = results.s3_error_xml(code, message, _request_id(request))
    return Response(xml, status_code=status, headers={"content-type": "application/xml", **headers})


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> [start, end) or None if unsatisfiable."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise ValueError(value)
    first, _, last = spec.strip().partition("-")
    if first == "":
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        return None
    return start, end


async def s3_get(request: Request) -> Response | _FileResponse:
    svc = _svc(request)
    result_key = request.path_params["result_key"]
    m = results.PART_RE.match(request.path_params["name"])
    execution = svc.store.by_result_key.get(result_key)
    if not m or execution is None or int(m.group(1)) >= max(1, execution.parts):
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.", request)
    part = int(m.group(1))
    code = results.verify(
        svc.url_key,
        result_key,
        part,
        dict(request.query_params),
        time.time(),
        svc.url_epoch,
    )
    if code == "AccessDenied":
        _note(request, "expired_url")
        return _s3_error(403, "AccessDenied", "Request has expired", request)
    if code:
        return _s3_error(403, code, "The request signature is not valid.", request)
    instance_id = execution.instance_id
    delay = svc.faults.settings(instance_id)["download_delay_seconds"]
    if delay:
        await asyncio.sleep(delay)
    if svc.faults.fault("download_error_next", "download_error_rate", instance_id):
        _note(request, "error")
        return _s3_error(503, "SlowDown", "Please reduce your request rate.", request)
    path = await svc.files.ensure(execution, part)
    size = path.stat().st_size
    headers = {
        "content-type": "text/csv",
        "accept-ranges": "bytes",
        "etag": f'"{execution.result_key}-{part}-{size}"',
        "x-amz-request-id": _request_id(request),
    }
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if range_header:
        try:
            bounds = _parse_range(range_header, size)
        except ValueError:
            bounds = (0, size)  # unparseable Range: ignore it, like S3
        else:
            if bounds is None:
                return _s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    request,
                    **{"content-range": f"bytes */{size}"},
                )
            start, end = bounds
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    drop_after = None
    if svc.faults.take("drop_connection_next", instance_id):
        _note(request, "drop_connection")
        drop_after = int(svc.faults.settings(instance_id)["drop_connection_after_bytes"])
    return _FileResponse(path, start, end, size, status, headers, drop_after)


# -- admin -----------------------------------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _hostname(value: str) -> str:
    """``host[:port]`` or ``[v6]:port`` -> the host, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _admin_refusal(request: Request) -> Response | None:
    """Why an admin request is refused (cross-site or DNS-rebinding), or None.

    The admin endpoints change faults and wipe state, with no credentials: a web page the user
    visits must not reach them. Browsers send ``Origin`` with cross-site requests and cannot send
    ``Content-Type: application/json`` cross-site without a CORS preflight (which the sandbox never
    grants); a rebinding page sends its own ``Host``.
    """
    allowed = getattr(request.app.state, "allowed_hosts", LOOPBACK_HOSTS)
    host = _hostname(request.headers.get("host", ""))
    if host not in allowed:
        details = f"Host {host!r} is not this sandbox (loopback only): request refused"
        return _json({"code": "403", "details": details}, 403)
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in allowed:
            details = f"cross-site request from Origin {origin!r} refused"
            return _json({"code": "403", "details": details}, 403)
    if request.method not in ("GET", "HEAD"):
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            details = "admin requests that change state must send Content-Type: application/json"
            return _json({"code": "415", "details": details}, 415)
    return None


def admin_endpoint(handler: Callable[[Request], Any]):
    async def endpoint(request: Request) -> Response:
        refusal = _admin_refusal(request)
        if refusal is not None:
            log.warning(
                "refused %s %s: %s", request.method, request.url.path, refusal.body.decode()
            )
            return refusal
        return await handler(request)

    endpoint.__name__ = handler.__name__
    return endpoint


async def health(request: Request) -> Response:
    return _json(_svc(request).health())


async def get_config(request: Request) -> Response:
    return _json(_svc(request).faults.describe())


async def put_config(request: Request) -> Response:
    svc = _svc(request)
    try:
        body = parse_json_body(await request.body())
        if request.method == "PATCH":
            svc.faults.patch_overlay(body)
        else:
            svc.faults.set_overlay(body)
    except ConfigError as exc:
        return _json({"code": "400", "details": str(exc)}, 400)
    except ApiError as exc:
        return _error(exc, request)
    svc.scheduler.invalidate()
    log.info("runtime config replaced: %s", redact_text(json.dumps(svc.faults.overlay)))
    return _json(svc.faults.describe())


async def admin_executions(request: Request) -> Response:
    svc = _svc(request)
    items = svc.executions_report(request.query_params.get("instance_id"))
    return _json({"executions": items, "count": len(items)})


async def admin_stats(request: Request) -> Response:
    return _json(_svc(request).stats())


async def admin_requests(request: Request) -> Response:
    svc = _svc(request)
    q = request.query_params
    try:
        since = float(q["since"]) if q.get("since") else None
        limit = as_int(q.get("limit") or 5000, "limit")
    except (ValueError, ApiError):
        return _json({"code": "400", "details": "since must be a number, limit an integer"}, 400)
    items = svc.request_log(
        since=since, path_contains=q.get("path_contains"), method=q.get("method"), limit=limit
    )
    return _json({"requests": items, "count": len(items)})


async def admin_reset(request: Request) -> Response:
    svc = _svc(request)
    try:
        options = parse_json_body(await request.body())
    except ApiError as exc:
        return _error(exc, request)
    out = svc.reset(options if isinstance(options, dict) else {})
    log.info("reset: %s", out["reset"])
    return _json(out)


async def admin_expire_urls(request: Request) -> Response:
    _svc(request).expire_urls()
    return _json({"url_epoch": _svc(request).url_epoch})


async def admin_revoke_tokens(request: Request) -> Response:
    _svc(request).store.revoke_tokens()
    return _json({"revoked": True})


async def admin_shutdown(request: Request) -> Response:
    stop = getattr(request.app.state, "request_shutdown", None)
    if stop is None:
        return _json({"code": "400", "details": "shutdown not available"}, 400)
    log.info("shutdown requested over HTTP")
    asyncio.get_running_loop().call_later(0.05, stop)
    return _json({"stopping": True})


# -- middleware ------------------------------------------------------------------------------------


class _HttpMiddleware:
    """Pure ASGI middleware for HTTP requests: anything else (lifespan) goes straight to the app."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope, receive, send) -> None:
        raise NotImplementedError


class RequestRecorder(_HttpMiddleware):
    """Request id header, request log, access log without query strings."""

    def __init__(self, app, svc: SandboxService, *, access_log_enabled: bool = True) -> None:
        super().__init__(app)
        self.svc = svc
        self.access_log_enabled = access_log_enabled

    async def handle(self, scope, receive, send) -> None:
        started = time.time()
        t0 = time.perf_counter()
        request_id = str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = [500]

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-amzn-requestid", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.svc.last_activity = time.monotonic()
            path = scope.get("path", "")
            method = scope.get("method", "")
            admin = path.startswith("/_sandbox/") and not path.startswith("/_sandbox/s3/")
            if not admin:
                self.svc.record_request(
                    {
                        "t": started,
                        "method": method,
                        "path": path,
                        "status": status[0],
                        "request_id": request_id,
                        "fault": state.get("fault"),
                    }
                )
            if self.access_log_enabled:
                ms = (time.perf_counter() - t0) * 1000
                level = logging.DEBUG if admin else logging.INFO
                access_log.log(level, "%s %s -> %d (%.1f ms)", method, path, status[0], ms)


class BodyLimit(_HttpMiddleware):
    """A request body over the cap gets 413, decided from Content-Length or
    while the body streams in, never after reading it whole; the app gets the body once it is in.
    """

    def __init__(
        self, app, *, limit: int = MAX_BODY_BYTES, token_limit: int = MAX_TOKEN_BODY_BYTES
    ) -> None:
        super().__init__(app)
        self.limit = limit
        self.token_limit = token_limit

    async def handle(self, scope, receive, send) -> None:
        limit = self.token_limit if scope.get("path") == TOKEN_PATH else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return message
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, send, limit: int) -> None:
        details = f"Request body too large: at most {limit} bytes"
        log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), details)
        body = json.dumps({"code": "413", "details": details}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json({"code": "404", "details": f"No route for {request.url.path}"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    details = f"Method {request.method} not allowed on {request.url.path}"
    return _json({"code": "405", "details": details}, 405)


# -- the app ---------------------------------------------------------------------------------------


def _lifespan_factory(idle_timeout: float):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        task = None
        if idle_timeout and idle_timeout > 0:
            task = asyncio.create_task(_idle_watch(app, idle_timeout))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            app.state.svc.close()

    return lifespan


async def _idle_watch(app: Starlette, idle_timeout: float) -> None:
    svc: SandboxService = app.state.svc
    clock = IdleClock(idle_timeout, svc.last_activity)
    while True:
        now = time.monotonic()
        clock.touch(svc.last_activity)  # every request sets last_activity (monotonic clock)
        if clock.is_due(now):
            stop = getattr(app.state, "request_shutdown", None)
            idle = now - clock.last_use
            log.info("no request for %.0fs (idle timeout %.0fs); shutting down", idle, idle_timeout)
            if stop is not None:
                stop()
            return
        await asyncio.sleep(clock.next_check(now, shortest=0.5, longest=30.0))


def create_app(
    state_dir: Path,
    base_config: dict[str, Any] | None = None,
    *,
    access_log_enabled: bool = True,
    idle_timeout: float = 0,
    host: str | None = None,
) -> Any:
    """The ASGI app serving one state dir. ``app.state.svc`` is the :class:`SandboxService`.

    ``host`` (the address it listens on) is accepted in ``Host`` headers besides loopback names.
    """
    svc = SandboxService(Path(state_dir), base_config)
    executions = "/amc/reporting/{instance_id}/workflowExecutions"
    execution = executions + "/{execution_id}"
    workflows = "/amc/reporting/{instance_id}/workflows"
    workflow = workflows + "/{workflow_id}"
    reporting_api = [
        ("POST", executions, create_execution),
        ("GET", executions, list_executions),
        ("GET", execution + "/downloadUrls", download_urls),
        ("GET", execution, get_execution),
        ("PUT", execution, update_execution),
        ("DELETE", execution, delete_execution),
        ("POST", workflows, create_workflow),
        ("GET", workflows, list_workflows),
        ("GET", workflow, get_workflow),
        ("PUT", workflow, update_workflow),
        ("DELETE", workflow, delete_workflow),
    ]
    routes = [
        Route(TOKEN_PATH, lwa_token, methods=["POST"]),
        Route("/amc/accounts", amc_endpoint(accounts, need_account=False), methods=["GET"]),
        Route("/amc/instances", amc_endpoint(instances), methods=["GET"]),
        *(
            Route(path, amc_endpoint(handler), methods=[method])
            for method, path, handler in reporting_api
        ),
        Route("/_sandbox/s3/{result_key}/{name}", s3_get, methods=["GET", "HEAD"]),
        Route("/_sandbox/health", admin_endpoint(health), methods=["GET"]),
        Route("/_sandbox/config", admin_endpoint(get_config), methods=["GET"]),
        Route("/_sandbox/config", admin_endpoint(put_config), methods=["PUT", "PATCH"]),
        Route("/_sandbox/executions", admin_endpoint(admin_executions), methods=["GET"]),
        Route("/_sandbox/stats", admin_endpoint(admin_stats), methods=["GET"]),
        Route("/_sandbox/requests", admin_endpoint(admin_requests), methods=["GET"]),
        Route("/_sandbox/reset", admin_endpoint(admin_reset), methods=["POST"]),
        Route("/_sandbox/expire-urls", admin_endpoint(admin_expire_urls), methods=["POST"]),
        Route("/_sandbox/revoke-tokens", admin_endpoint(admin_revoke_tokens), methods=["POST"]),
        Route("/_sandbox/shutdown", admin_endpoint(admin_shutdown), methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan_factory(idle_timeout),
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.svc = svc
    app.state.request_shutdown = None
    app.state.allowed_hosts = LOOPBACK_HOSTS | ({host.strip("[]").lower()} if host else set())
    wrapped = RequestRecorder(BodyLimit(app), svc, access_log_enabled=access_log_enabled)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped
