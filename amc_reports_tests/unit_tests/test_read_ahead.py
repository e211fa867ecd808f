"""`read_ahead`: the chunks in order, an error where it happened, a bounded lead, and a stream
that can be read on after the block ends early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from amc_reports.warehouse.read_ahead import read_ahead


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "amc-reports-read-ahead"]


def test_every_chunk_arrives_once_in_order():
    chunks = [f"{i},row\n".encode() for i in range(1_000)]
    with read_ahead(iter(chunks), depth=2) as ahead:
        assert list(ahead) == chunks
    assert _reader_threads() == []


def test_an_error_reading_arrives_after_the_chunks_before_it():
    def broken() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        raise ConnectionResetError("the download broke")

    received = []
    with (
        pytest.raises(ConnectionResetError, match="the download broke"),
        read_ahead(broken()) as ahead,
    ):
        for chunk in ahead:
            received.append(chunk)
    assert received == [b"a", b"b"]
    assert _reader_threads() == []


def test_a_block_ended_early_stops_the_reader_and_the_stream_reads_on():
    read: list[int] = []

    def source() -> Iterator[bytes]:
        for i in range(100):
            read.append(i)
            yield str(i).encode()

    stream = source()
    depth = 3
    with read_ahead(stream, depth=depth) as ahead:
        assert [next(ahead), next(ahead)] == [b"0", b"1"]
    assert _reader_threads() == []
    # The reader never ran more than `depth` chunks (and the one it held) ahead of the caller.
    read_by_the_reader = list(read)
    assert len(read_by_the_reader) <= 2 + depth + 1
    rest = [int(chunk) for chunk in stream]  # from where the reader stopped
    assert read_by_the_reader + rest == list(range(100))
