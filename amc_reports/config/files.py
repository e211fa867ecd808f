"""Read a text file the config names (the reports file, a `sql_file`) or say in words why not."""

from __future__ import annotations

import stat
from pathlib import Path

from amc_reports.config.values import unstorable


class UnreadableFile(ValueError):
    """Why a file cannot be used, as a phrase that reads after its path."""


def read_utf8(path: Path, *, max_bytes: int) -> str:
    """The text of a regular UTF-8 file of at most `max_bytes` (a leading BOM is dropped).

    Folders, devices and pipes are refused before anything is read: reading a FIFO would block
    and a device could be endless.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UnreadableFile("does not exist") from None
    except OSError as exc:
        raise UnreadableFile(f"is not readable ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("is not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableFile(f"is not readable ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UnreadableFile(f"is larger than the {max_bytes:,} bytes allowed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    bad = unstorable(text)
    if bad:
        raise UnreadableFile(bad)
    return text
