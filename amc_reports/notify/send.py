"""Sending messages through apprise: Slack, Teams, e-mail, webhooks and more, from one list of
URLs (https://github.com/caronc/apprise/wiki lists the URL of each service).

The URLs carry secrets (webhook tokens, passwords): they are never logged, never put in an error,
and each target is named by its position and scheme only (`#2 (slack://)`). Their secret parts
are registered for redaction, and apprise's own debug output (which prints request URLs) is not
let through. apprise itself (a second to import) is imported only when there is a target.

A delivery that fails (the service answered an error, or could not be reached) is tried again with
backoff, a bounded number of times (`DeliveryRetry`), each retry logged.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from amc_reports.amc.redact import install_log_redaction, redact_text, register_secret
from amc_reports.notify.messages import DEFAULT_UI_URL, Alert, Message, Severity, render

_log = logging.getLogger(__name__)

APPRISE_LOGGER = "apprise"
# A URL starts at a scheme: "a://x, b://y" and "a://x b://y" are two targets, while a comma inside
# one URL (mailto://...?to=a@x.com,b@y.com) stays in it.
_SPLIT = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
if TYPE_CHECKING:
    import apprise


class NotificationConfigError(ValueError):
    """A notification URL that apprise does not understand (named by position, never shown)."""


@dataclass(frozen=True)
class Target:
    position: int
    url: str = field(repr=False)

    @property
    def scheme(self) -> str:
        match = _SCHEME.match(self.url)
        return match.group(1).lower() if match else "?"

    @property
    def label(self) -> str:
        return f"#{self.position} ({self.scheme}://)"


def parse_targets(raw: str | Sequence[str]) -> list[Target]:
    """The targets of a list of URLs (one string separated by spaces, commas or new lines)."""
    text = raw if isinstance(raw, str) else "\n".join(raw)
    pieces = [p.strip().strip(",").strip() for p in _SPLIT.split(text.strip())]
    return [Target(i, url) for i, url in enumerate((p for p in pieces if p), start=1)]


def secret_parts(url: str) -> set[str]:
    """The parts of a notification URL that may be secret: the URL itself, its user and password,
    its path segments and query values, and a host that is a token (slack://TokenA/...)."""
    parts = {url}
    try:
        split = urlsplit(url)
        host = split.hostname or ""
        parts.update(p for p in (split.username, split.password) if p)
    except ValueError:
        return parts
    parts.update(segment for segment in split.path.split("/") if segment)
    parts.update(value for _, value in parse_qsl(split.query) if value)
    if host and "." not in host and ":" not in host and host != "localhost":
        parts.add(host)
    return parts


def _register(url: str) -> None:
    """Register the strong secret parts globally: every log line of the process loses them. Short
    path segments ("hook", "services") are only redacted from apprise's messages (see `_reason`)."""
    for part in secret_parts(url):
        if len(part) >= 8 and (part == url or any(c.isdigit() for c in part) or len(part) >= 16):
            register_secret(part)


class _DropDebug(logging.Filter):
    """Apprise's DEBUG and TRACE records print request URLs and payloads: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


_apprise_guard_lock = threading.Lock()
_apprise_guarded = False


def _guard_apprise_logging() -> None:
    global _apprise_guarded
    with _apprise_guard_lock:
        if not _apprise_guarded:
            logging.getLogger(APPRISE_LOGGER).addFilter(_DropDebug())
            install_log_redaction(APPRISE_LOGGER)
            _apprise_guarded = True


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _apprise_warnings() -> Iterator[_Collect]:
    """Apprise says why a delivery failed only in its log: collect those lines meanwhile."""
    handler = _Collect()
    logger = logging.getLogger(APPRISE_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@dataclass(frozen=True)
class DeliveryRetry:
    """How often a failed delivery to one target is tried again, and how long apart."""

    attempts: int = 3  # in all, the first included
    first_wait_seconds: float = 1.0  # then doubling
    max_wait_seconds: float = 10.0


@dataclass(frozen=True)
class Delivery:
    """What became of one message: the targets that took it, why the others did not, and how
    many attempts each target took."""

    sent: list[str]
    failed: dict[str, str]
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class Notifier:
    """Sends alerts to every configured target. With no URL it is off (`enabled` is False) and
    sends nothing."""

    def __init__(
        self,
        urls: str | Sequence[str] = "",
        ui_url: str = DEFAULT_UI_URL,
        retry: DeliveryRetry | None = None,
    ) -> None:
        self.ui_url = (ui_url or DEFAULT_UI_URL).rstrip("/")
        self.retry = retry or DeliveryRetry()
        self.targets = parse_targets(urls)
        self._services: dict[int, apprise.Apprise] = {}
        self.problems: list[str] = []
        if not self.targets:
            return
        import apprise

        _guard_apprise_logging()
        for target in self.targets:
            _register(target.url)
            service = apprise.Apprise()
            if service.add(target.url):
                self._services[target.position] = service
            else:
                self.problems.append(
                    f"notification target {target.label} is not a URL apprise understands "
                    "(see https://github.com/caronc/apprise/wiki); it is skipped"
                )

    def __repr__(self) -> str:
        return f"Notifier({len(self.targets)} target(s), ui_url={self.ui_url!r})"

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    def check(self) -> None:
        """Raise when a target is not usable (for `amc-reports notify-test`)."""
        if self.problems:
            raise NotificationConfigError("; ".join(self.problems))

    def send(self, alert: Alert) -> Delivery:
        return self.send_message(render(alert, self.ui_url))

    def send_message(self, message: Message) -> Delivery:
        if not self.targets:
            return Delivery(sent=[], failed={})
        import apprise

        notify_type: Any = (
            apprise.NotifyType.WARNING
            if message.severity is Severity.WARNING
            else apprise.NotifyType.FAILURE
        )
        sent: list[str] = []
        failed: dict[str, str] = {}
        attempts: dict[str, int] = {}
        for target in self.targets:
            service = self._services.get(target.position)
            if service is None:
                failed[target.label] = "not a URL apprise understands"
                continue
            why, attempts[target.label] = self._deliver(service, target, message, notify_type)
            if why is None:
                sent.append(target.label)
            else:
                failed[target.label] = why
        if failed:
            _log.warning(
                "notification %r not delivered to %s",
                message.title,
                "; ".join(
                    f"{label}: {why} ({attempts.get(label, 0)} attempt(s))"
                    for label, why in failed.items()
                ),
            )
        return Delivery(sent=sent, failed=failed, attempts=attempts)

    def _deliver(
        self, service: apprise.Apprise, target: Target, message: Message, notify_type: Any
    ) -> tuple[str | None, int]:
        """Deliver to one target, trying again with backoff while it fails: why it failed in the
        end (None: delivered), and the attempts made."""
        policy = self.retry

        def log(state: RetryCallState) -> None:
            why = state.outcome.result() if state.outcome else ""
            wait = state.next_action.sleep if state.next_action else 0.0
            _log.warning(
                "notification %r to %s failed (%s); trying again in %.1f s (attempt %d of %d)",
                message.title,
                target.label,
                why,
                wait,
                state.attempt_number + 1,
                policy.attempts,
            )

        retrying = Retrying(
            retry=retry_if_result(lambda why: why is not None),
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential(
                multiplier=policy.first_wait_seconds, max=policy.max_wait_seconds
            ),
            before_sleep=log,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        why = retrying(self._deliver_once, service, target, message, notify_type)
        return why, retrying.statistics.get("attempt_number", 1)

    @staticmethod
    def _deliver_once(
        service: apprise.Apprise, target: Target, message: Message, notify_type: Any
    ) -> str | None:
        """One delivery: None when the target took it, else why not (redacted)."""
        import apprise

        with _apprise_warnings() as warnings:
            try:
                ok = service.notify(
                    title=message.title,
                    body=message.body,
                    notify_type=notify_type,
                    body_format=apprise.NotifyFormat.TEXT,
                )
            except Exception as exc:  # a plugin bug must not stop the other targets
                ok = False
                warnings.lines.append(f"{type(exc).__name__}: {exc}")
        return None if ok else _reason(warnings.lines, target.url)


def _reason(lines: list[str], url: str) -> str:
    text = " ".join(line.strip() for line in lines if line.strip()) or "apprise reported a failure"
    return redact_text(text, extra_secrets=secret_parts(url))[:500]
