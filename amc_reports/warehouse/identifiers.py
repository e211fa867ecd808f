"""Safe Postgres identifiers from report names and CSV headers.

Names are always passed to Postgres through `psycopg.sql.Identifier` (quoted), so quotes, semicolons
and unicode are harmless. What quoting cannot fix is handled here:

- Postgres silently truncates identifiers to 63 bytes (NAMEDATALEN - 1). A longer name is cut on a
  UTF-8 character boundary and given a suffix of 8 hex digits of the SHA-256 of the full name, so
  two long names that share a 63-byte prefix never collide, and the same name always maps to the
  same identifier.
- NUL characters cannot be stored in an identifier: they are replaced by U+FFFD.
- CSV headers: an empty name becomes `column_<n>` (1-based position); the lineage names
  `execution_id`, `week_start_date` and `amc_instance` are reserved for the lineage columns, so
  a CSV column of that name is stored as `csv_execution_id` (and so on, with a warning);
  duplicates get `_2`, `_3`, ... suffixes.
"""

from __future__ import annotations

import hashlib
import logging

MAX_IDENTIFIER_BYTES = 63
LINEAGE_COLUMNS = ("execution_id", "week_start_date", "amc_instance")
RENAMED_PREFIX = "csv_"

_log = logging.getLogger(__name__)


def pg_identifier(name: str) -> str:
    """The identifier Postgres will store for `name` (deterministic, at most 63 bytes)."""
    cleaned = name.replace("\x00", "\ufffd")
    encoded = cleaned.encode("utf-8")
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return cleaned
    suffix = "_" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    budget = MAX_IDENTIFIER_BYTES - len(suffix)
    prefix = encoded[:budget].decode("utf-8", errors="ignore")  # drop a cut multi-byte character
    return prefix + suffix


def table_name_for_report(report: str) -> str:
    """The results table name of a report (unqualified, unquoted)."""
    if not report or not report.strip():
        raise ValueError("report name must not be empty")
    return pg_identifier(report)


def column_names_for_header(header: list[str]) -> list[str]:
    """Stored column names for a CSV header, in header order (see the module docstring)."""
    names: list[str] = []
    taken: set[str] = set()
    for position, raw in enumerate(header, start=1):
        name = raw.strip() if raw.strip() else f"column_{position}"
        if name in LINEAGE_COLUMNS:
            _log.warning(
                "CSV column %r collides with the lineage column of the same name; stored as %r",
                name,
                RENAMED_PREFIX + name,
            )
            name = RENAMED_PREFIX + name
        name = pg_identifier(name)
        candidate, counter = name, 1
        while candidate in taken or candidate in LINEAGE_COLUMNS:
            counter += 1
            candidate = pg_identifier(f"{name}_{counter}")
        taken.add(candidate)
        names.append(candidate)
    return names
