"""A flaky network in front of the real sandbox: an HTTP proxy that fails requests on cue.

For the failures the sandbox cannot produce by itself: a token endpoint that answers 503, a
gateway's HTML error page that echoes what it was sent, or a connection that breaks after the
request has reached AMC (the proxy forwards the request, so the sandbox really acts on it, then
hangs up without answering). Everything else is forwarded unchanged, so the client talks to the
real sandbox through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import requests

Action = Literal["answer", "forward_then_hang_up"]
# What an "answer" sends, given the request body: (status, content type, body).
Page = Callable[[bytes], tuple[int, str, bytes]]


def json_503(request_body: bytes) -> tuple[int, str, bytes]:
    return 503, "application/json", b'{"code": "503", "details": "injected by the test proxy"}'


_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "content-encoding"}


@dataclass
class Fault:
    method: str
    path_contains: str
    action: Action
    times: int = 1
    page: Page = json_503


class FlakyProxy:
    """``with FlakyProxy(target) as proxy``: ``proxy.url`` forwards to ``target``; ``proxy.fail()``
    arms a fault for the next matching requests; ``proxy.seen`` lists (method, path, what happened).
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.seen: list[tuple[str, str, str]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(
        self,
        method: str,
        path_contains: str,
        action: Action,
        times: int = 1,
        *,
        page: Page = json_503,
    ) -> None:
        with self._lock:
            self._faults.append(Fault(method, path_contains, action, times, page))

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.method == method and fault.path_contains in path:
                    fault.times -= 1
                    return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the sandbox keeps its own request log

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take_fault(self.command, self.path)
                action = fault.action if fault else None
                proxy.seen.append((self.command, self.path, action or "forwarded"))
                if fault is not None and fault.action == "answer":
                    status, content_type, payload = fault.page(body)
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = requests.request(
                    self.command,
                    proxy.target + self.path,
                    headers=headers,
                    data=body or None,
                    timeout=30,
                    allow_redirects=False,
                )
                if action == "forward_then_hang_up":
                    self.close_connection = True  # the request arrived; its answer never does
                    return
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
