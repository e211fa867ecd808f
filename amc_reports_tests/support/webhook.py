"""A real HTTP webhook receiver for notification tests: a small server on a free loopback port
that records every request (apprise's `json://` posts `{"title", "message", "type", ...}`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int = 200  # the HTTP status the receiver answered it with

    @property
    def title(self) -> str:
        return str(self.body.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


@dataclass
class WebhookReceiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)  # the deliveries answered 2xx
    all_received: list[Received] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures_left: int = 0  # the next requests answered 503 (then `status` again)

    def fail_next(self, count: int) -> None:
        """Answer the next `count` deliveries with HTTP 503 (recorded, not delivered)."""
        with self.lock:
            self.failures_left = count

    def attempts(self) -> list[Received]:
        """Every request received, delivered or not."""
        with self.lock:
            return list(self.all_received)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hooks/amc") -> str:
        """The apprise URL that posts JSON here."""
        return f"json://127.0.0.1:{self.port}{path}"

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 60.0
    ) -> list[Received]:
        """The messages matching `predicate`, once there is at least one (polled, with a
        deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if predicate(m)]
            if found:
                return found
            if time.monotonic() > deadline:
                titles = [m.title for m in self.messages()]
                raise AssertionError(f"no matching notification within {timeout} s; got {titles}")
            time.sleep(0.2)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> WebhookReceiver:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            receiver = holder["receiver"]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode("utf-8", "replace")}
            with receiver.lock:
                status = receiver.status
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    status = 503
                request = Received(self.path, dict(self.headers), body, status)
                receiver.all_received.append(request)
                if status < 400:
                    receiver.received.append(request)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = WebhookReceiver(server)
    holder["receiver"] = receiver
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver
