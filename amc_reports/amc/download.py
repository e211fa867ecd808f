"""Streaming reader of an execution's result: all CSV parts joined, one header line.

:class:`ResultStream` knows nothing of the AMC client: it reads through a :class:`ResultSource`
(the execution's pre-signed URLs, and one GET of a part from a byte offset). The client provides
one with :meth:`AmcClient.result_source`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from typing import Protocol

import requests
import urllib3.exceptions

from amc_reports.amc.errors import AmcApiError, AmcDownloadError
from amc_reports.amc.http import error_message_of, request_id_of
from amc_reports.amc.redact import redact_url, url_for_display

log = logging.getLogger("amc_reports.amc.client")

_STREAM_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
    OSError,
)


class ResultSource(Protocol):
    """Where a :class:`ResultStream` gets its bytes: one execution's result parts."""

    @property
    def instance_id(self) -> str: ...

    @property
    def execution_id(self) -> str: ...

    def download_urls(self) -> list[str]:
        """Fresh pre-signed URLs of the result parts, in order."""
        ...

    def fetch_part(self, url: str, *, offset: int, deadline: float) -> requests.Response:
        """A streamed GET of ``url`` from byte ``offset`` (a ``Range`` request when > 0).

        Transient failures are retried until ``deadline`` (monotonic); any other answer (200,
        206, 403, 404, 416, ...) is returned for the stream to handle.
        """
        ...


class ResultStream(io.RawIOBase):
    """A read-only byte stream over the CSV parts of one execution's result.

    Parts are fetched one after the other; the header line of every part after the first is
    dropped (and checked to match the first). When a pre-signed URL has expired (403) the stream
    fetches fresh URLs and carries on; when a connection breaks mid-part it resumes at the byte it
    had reached (``Range`` request, or re-reading and skipping if the server ignores ``Range``).
    It gives up when ``retry_budget_seconds`` pass without a byte of progress, or after
    ``max_url_refreshes`` fresh sets of URLs in a row that did not help. ``urls``: start with
    these URLs instead of asking the source.

    Attributes: ``parts`` (number of parts), ``bytes_read`` (bytes delivered to the reader),
    ``url_refreshes`` and ``resumes`` (how often it had to recover).

    Wrap it for text: ``io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8", newline="")``.
    """

    def __init__(
        self,
        source: ResultSource,
        *,
        urls: list[str] | None = None,
        retry_budget_seconds: float = 300,
        max_url_refreshes: int = 5,
    ) -> None:
        super().__init__()
        self._source = source
        self.instance_id = source.instance_id
        self.execution_id = source.execution_id
        self.retry_budget_seconds = retry_budget_seconds
        self.max_url_refreshes = max_url_refreshes
        self._urls = list(urls) if urls is not None else source.download_urls()
        self.parts = len(self._urls)
        self.bytes_read = 0
        self.url_refreshes = 0
        self.resumes = 0
        self._part = 0
        self._offset = 0  # bytes of the current part already consumed (header included)
        self._resp: requests.Response | None = None
        self._header: bytes | None = None  # header line of the first non-empty part
        self._header_done = False  # header of the current part handled
        self._header_buf = b""
        self._refreshes_without_progress = 0
        self._deadline = self._new_deadline()

    def __repr__(self) -> str:
        return (
            f"ResultStream(instance_id={self.instance_id!r}, execution_id={self.execution_id!r}, "
            f"parts={self.parts}, part={self._part}, bytes_read={self.bytes_read})"
        )

    # -- io.RawIOBase ---------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("I/O operation on closed ResultStream")
        view = memoryview(buffer).cast("B")
        if len(view) == 0:
            return 0
        while True:
            if self._part >= self.parts:
                return 0
            if self._resp is None:
                self._open_part()
                if self._resp is None:  # the part turned out to be complete already
                    continue
            try:
                chunk = self._resp.raw.read1(len(view), decode_content=True)
            except _STREAM_ERRORS as exc:
                self._on_broken_stream(exc)
                continue
            if not chunk:
                self._next_part()
                continue
            self._offset += len(chunk)
            self._refreshes_without_progress = 0
            self._deadline = self._new_deadline()
            data = self._filter_header(chunk)
            if not data:
                continue
            n = len(data)
            view[:n] = data
            self.bytes_read += n
            return n

    def close(self) -> None:
        if not self.closed:
            self._release()
        super().close()

    # -- internals ------------------------------------------------------------------------------

    def _new_deadline(self) -> float:
        return time.monotonic() + self.retry_budget_seconds

    def _release(self) -> None:
        if self._resp is not None:
            with contextlib.suppress(Exception):
                self._resp.close()
            self._resp = None

    def _next_part(self) -> None:
        self._release()
        if not self._header_done and self._part > 0 and self._header_buf and self._header:
            # A later part that is nothing but a header without a newline.
            self._check_header(self._header_buf)
        self._part += 1
        self._offset = 0
        self._header_done = False
        self._header_buf = b""

    def _on_broken_stream(self, exc: BaseException) -> None:
        self._release()
        self.resumes += 1
        if time.monotonic() > self._deadline:
            raise AmcDownloadError(
                f"download of part {self._part + 1}/{self.parts} of execution "
                f"{self.execution_id} kept failing ({type(exc).__name__}) beyond the retry budget"
            ) from None
        log.warning(
            "download of part %d/%d of execution %s broke at byte %d (%s); resuming",
            self._part + 1,
            self.parts,
            self.execution_id,
            self._offset,
            type(exc).__name__,
        )

    def _refresh_urls(self, reason: str) -> None:
        self._refreshes_without_progress += 1
        if self._refreshes_without_progress > self.max_url_refreshes:
            raise AmcDownloadError(
                f"download of part {self._part + 1}/{self.parts} of execution {self.execution_id} "
                f"still refused after {self._refreshes_without_progress - 1} fresh URL(s): {reason}"
            )
        urls = self._source.download_urls()
        if len(urls) != self.parts:
            raise AmcDownloadError(
                f"execution {self.execution_id} now lists {len(urls)} result parts instead of "
                f"{self.parts}; cannot resume the download consistently"
            )
        self._urls = urls
        self.url_refreshes += 1
        log.info("fresh download URLs for execution %s (%s)", self.execution_id, reason)

    def _open_part(self) -> None:
        while True:
            url = self._urls[self._part]
            resp = self._source.fetch_part(url, offset=self._offset, deadline=self._deadline)
            status = resp.status_code
            if status == 403:
                message, code = error_message_of(resp)
                resp.close()
                self._refresh_urls(f"HTTP 403 {code or ''} {message}".strip())
                continue
            if status == 416 and self._offset > 0:
                # Nothing left after the offset: the part was complete.
                resp.close()
                self._next_part()
                return
            if status == 206:
                start = _content_range_start(resp.headers.get("Content-Range"))
                if start != self._offset:
                    resp.close()
                    raise AmcDownloadError(
                        f"part {self._part + 1} of execution {self.execution_id}: asked for bytes "
                        f"from {self._offset}, got a range starting at {start}"
                    )
                self._resp = resp
                return
            if status == 200:
                self._resp = resp
                if self._offset > 0:
                    self._skip(self._offset)
                return
            message, code = error_message_of(resp)
            resp.close()
            raise AmcApiError(
                status,
                f"download of part {self._part + 1}/{self.parts} failed: {message}",
                request_id=request_id_of(resp),
                method="GET",
                path=url_for_display(url),
                code=code,
            )

    def _skip(self, count: int) -> None:
        """The server ignored ``Range``: read and drop the bytes already delivered."""
        remaining = count
        assert self._resp is not None
        while remaining > 0:
            chunk = self._resp.raw.read1(min(remaining, 1 << 16), decode_content=True)
            if not chunk:
                raise AmcDownloadError(
                    f"part {self._part + 1} of execution {self.execution_id} is shorter than "
                    f"before ({count - remaining} < {count} bytes) after re-opening "
                    f"{redact_url(self._urls[self._part])}"
                )
            remaining -= len(chunk)

    def _filter_header(self, chunk: bytes) -> bytes:
        """Pass part 0's header through (remembering it); drop later parts' headers."""
        if self._header_done:
            return chunk
        if self._header is None:
            # This part provides the stream's single header line.
            self._header_buf += chunk
            newline = self._header_buf.find(b"\n")
            if newline >= 0:
                self._header = self._header_buf[: newline + 1]
                self._header_done = True
                self._header_buf = b""
            return chunk
        self._header_buf += chunk
        newline = self._header_buf.find(b"\n")
        if newline < 0:
            return b""
        line, rest = self._header_buf[: newline + 1], self._header_buf[newline + 1 :]
        self._check_header(line)
        self._header_done = True
        self._header_buf = b""
        return rest

    def _check_header(self, line: bytes) -> None:
        assert self._header is not None
        if line.rstrip(b"\r\n") != self._header.rstrip(b"\r\n"):
            raise AmcDownloadError(
                f"part {self._part + 1}/{self.parts} of execution {self.execution_id} has a "
                "different header line than the first part; refusing to join them"
            )


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value:
        return None
    try:
        unit, _, rest = value.strip().partition(" ")
        if unit.lower() != "bytes":
            return None
        return int(rest.split("-", 1)[0])
    except ValueError:
        return None
