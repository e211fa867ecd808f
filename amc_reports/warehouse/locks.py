"""Advisory lock keys: a stable signed 64-bit integer per (namespace, parts...)."""

from __future__ import annotations

import hashlib


def advisory_key(*parts: object) -> int:
    """A bigint key for pg_advisory_*lock, the same in every process and on every run."""
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
