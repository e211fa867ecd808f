"""Reading a stream of chunks ahead, in a thread of its own, a few chunks at most.

A load sends the week's CSV to Postgres chunk by chunk while it reads it (the download, or the
spooled file), hashes and spools it. Done in one thread, Postgres waits while each chunk is read,
hashed and written to the spool; read ahead, the two overlap. Memory stays bounded: at most
`depth` chunks wait (4 MiB with the load's 1 MiB chunks).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

DEPTH = 4
_END = object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@contextlib.contextmanager
def read_ahead(chunks: Iterator[bytes], depth: int = DEPTH) -> Iterator[Iterator[bytes]]:
    """The chunks of `chunks`, read by a thread up to `depth` ahead of the caller. An error
    reading them is raised to the caller, at its place in the stream. When the block ends
    (early too), the thread has stopped: `chunks` is no longer read by it, and can be read on
    from where it stopped."""
    waiting: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                waiting.put(chunk)
                if stop.is_set():
                    return
            waiting.put(_END)
        except BaseException as exc:  # raised to the caller, in the stream
            waiting.put(_Failed(exc))

    def consume() -> Iterator[bytes]:
        while True:
            item = waiting.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    reader = threading.Thread(target=produce, name="amc-reports-read-ahead", daemon=True)
    reader.start()
    try:
        yield consume()
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting for room, until it stops
            with contextlib.suppress(queue.Empty):
                while True:
                    waiting.get_nowait()
            reader.join(timeout=0.05)
