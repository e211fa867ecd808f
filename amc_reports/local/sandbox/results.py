"""Result files of the sandbox and their pre-signed-looking download URLs.

URLs look like S3 pre-signed URLs and are really signed (HMAC with a key kept in the state dir),
so they survive a sandbox restart and cannot be forged or extended::

    /_sandbox/s3/<result key>/part-00000.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256
        &X-Amz-Credential=...&X-Amz-Date=20240101T000000Z&X-Amz-Expires=600
        &X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>

Files are generated on first download into ``<state dir>/results/<execution id>/`` (deterministic,
so they can always be regenerated) and served with ``Range`` support.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from amc_reports.local.sandbox import synth
from amc_reports.local.sandbox.sql_runs import SqlRuns
from amc_reports.local.sandbox.state import Execution

PART_RE = re.compile(r"^part-(\d{5})\.csv$")
_DATE_FMT = "%Y%m%dT%H%M%SZ"


def part_name(part: int) -> str:
    return f"part-{part:05d}.csv"


def _signature(
    key: bytes, result_key: str, part: int, amz_date: str, expires: int, epoch: int
) -> str:
    # The epoch changes when every issued URL is expired at once (POST /_sandbox/expire-urls).
    message = f"{result_key}/{part_name(part)}\n{amz_date}\n{expires}\n{epoch}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def presigned_url(
    base_url: str,
    key: bytes,
    result_key: str,
    part: int,
    issued_at: float,
    expires: int,
    epoch: int = 0,
) -> str:
    amz_date = datetime.fromtimestamp(issued_at, UTC).strftime(_DATE_FMT)
    credential = quote(f"SANDBOXACCESSKEY/{amz_date[:8]}/us-east-1/s3/aws4_request", safe="")
    signature = _signature(key, result_key, part, amz_date, expires, epoch)
    return (
        f"{base_url.rstrip('/')}/_sandbox/s3/{result_key}/{part_name(part)}"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
        f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={signature}"
    )


def verify(
    key: bytes,
    result_key: str,
    part: int,
    query: dict[str, str],
    now: float,
    epoch: int = 0,
) -> str | None:
    """None if the URL is valid now, else the S3 error code (``AccessDenied`` when expired)."""
    try:
        amz_date = query["X-Amz-Date"]
        expires = int(query["X-Amz-Expires"])
        signature = query["X-Amz-Signature"]
        issued = datetime.strptime(amz_date, _DATE_FMT).replace(tzinfo=UTC).timestamp()
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError"
    expected = _signature(key, result_key, part, amz_date, expires, epoch)
    if not hmac.compare_digest(expected, signature):
        for old in range(epoch - 1, max(-1, epoch - 1000), -1):
            earlier = _signature(key, result_key, part, amz_date, expires, old)
            if hmac.compare_digest(earlier, signature):
                return "AccessDenied"  # issued before the URLs were expired wholesale
        return "SignatureDoesNotMatch"
    if now > issued + expires:
        return "AccessDenied"
    return None


def s3_error_xml(code: str, message: str, request_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>amc-sandbox</HostId></Error>"
    )


def spec_of(execution: Execution) -> synth.ResultSpec:
    return synth.ResultSpec(
        instance_id=execution.instance_id,
        sql=execution.sql,
        window_start=execution.window_start,
        window_end=execution.window_end,
        rows=execution.rows,
        parts=execution.parts,
        csv_fault=execution.csv_fault,
    )


class ResultFiles:
    """Generated result parts on disk, created once per (execution, part)."""

    def __init__(self, root: Path, sql_runs: SqlRuns, max_bytes: int = 1 << 30) -> None:
        self.root = Path(root)
        self.sql_runs = sql_runs
        self.max_bytes = max_bytes
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    def path(self, execution: Execution, part: int) -> Path:
        return self.root / execution.id / part_name(part)

    async def ensure(self, execution: Execution, part: int) -> Path:
        path = self.path(execution, part)
        if path.exists():
            return path
        lock = self._locks.setdefault((execution.id, part), asyncio.Lock())
        async with lock:
            if not path.exists():
                await asyncio.to_thread(self._generate, execution, part, path)
                await asyncio.to_thread(self._evict)
        self._locks.pop((execution.id, part), None)
        return path

    def _generate(self, execution: Execution, part: int, path: Path) -> None:
        if execution.runs_sql:
            self.sql_runs.materialize(execution)  # every part at once
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        synth.write_part(spec_of(execution), part, tmp)
        os.replace(tmp, path)

    def _evict(self) -> None:
        """Keep the cache under ``max_bytes`` by dropping the oldest files (regenerable)."""
        files = []
        total = 0
        for path in self.root.glob("*/part-*.csv"):
            with contextlib.suppress(OSError):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
                total += st.st_size
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(files):
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
            if total <= self.max_bytes:
                break

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
