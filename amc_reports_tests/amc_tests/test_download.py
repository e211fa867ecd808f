"""Result download: multi-part join, expired URLs, broken connections, faulty CSV."""

from __future__ import annotations

import io

import pytest

from amc_reports.amc import AmcApiError
from amc_reports.amc.download import ResultStream
from amc_reports_tests.amc_tests.helpers import (
    COLUMNS,
    INSTANCE,
    create,
    read_result,
    rows_of,
    wait_terminal,
)


def _succeeded(client, sandbox, **config):
    if config:
        sandbox.set_config(config)
    record = create(client)
    wait_terminal(client, INSTANCE, record.execution_id)
    return record.execution_id


def test_multi_part_result_is_joined_with_one_header(amc_client, sandbox):
    single = _succeeded(amc_client, sandbox, rows=50, parts=1)
    multi = _succeeded(amc_client, sandbox, rows=50, parts=3)
    assert len(amc_client.get_download_urls(INSTANCE, multi)) == 3
    with amc_client.open_result(INSTANCE, multi) as stream:
        joined = stream.read()
        assert stream.parts == 3
    rows = rows_of(joined)
    assert rows[0] == COLUMNS
    assert rows.count(COLUMNS) == 1
    assert len(rows) == 51
    # Same inputs, different split: the same bytes.
    assert joined == read_result(amc_client, INSTANCE, single)


def test_stream_works_with_buffered_and_text_readers(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox, rows=30, parts=2)
    expected = read_result(amc_client, INSTANCE, execution_id)
    stream = amc_client.open_result(INSTANCE, execution_id)
    text = io.TextIOWrapper(io.BufferedReader(stream, buffer_size=7), encoding="utf-8", newline="")
    lines = text.readlines()
    text.close()
    assert stream.closed
    assert "".join(lines).encode() == expected
    assert stream.bytes_read == len(expected)


def test_expired_url_is_refreshed(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox, expired_urls_next=1)
    with amc_client.open_result(INSTANCE, execution_id) as stream:
        data = stream.read()
        assert stream.url_refreshes == 1
    assert rows_of(data)[0] == COLUMNS and len(rows_of(data)) == 21
    downloads = sandbox.requests(path_contains="/_sandbox/s3/")
    assert [d["status"] for d in downloads] == [403, 200]
    assert downloads[0]["fault"] == "expired_url"


def test_urls_expiring_between_parts_are_refreshed(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox, rows=40, parts=3)
    expected = read_result(amc_client, INSTANCE, execution_id)
    with amc_client.open_result(INSTANCE, execution_id) as stream:
        first = stream.read(10)
        sandbox.expire_urls()  # 10 minutes pass, as far as the URLs are concerned
        rest = stream.read()
        assert stream.url_refreshes == 1
    assert first + rest == expected


def test_broken_connection_resumes_with_range(amc_client, sandbox):
    execution_id = _succeeded(
        amc_client,
        sandbox,
        rows=300,
        parts=2,
        drop_connection_next=2,
        drop_connection_after_bytes=1000,
    )
    with amc_client.open_result(INSTANCE, execution_id) as stream:
        data = stream.read()
        assert stream.resumes == 2
    rows = rows_of(data)
    assert rows[0] == COLUMNS and len(rows) == 301
    sandbox.set_config({})
    assert data == read_result(amc_client, INSTANCE, execution_id)
    statuses = [d["status"] for d in sandbox.requests(path_contains="/_sandbox/s3/")]
    assert 206 in statuses


def test_download_errors_are_retried(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox, download_error_next=2)
    data = read_result(amc_client, INSTANCE, execution_id)
    assert len(rows_of(data)) == 21
    statuses = [d["status"] for d in sandbox.requests(path_contains="/_sandbox/s3/")]
    assert statuses == [503, 503, 200]


def test_results_not_ready(amc_client, sandbox):
    sandbox.set_config({"latency_seconds": 60})
    record = create(amc_client)
    with pytest.raises(AmcApiError) as err:
        amc_client.open_result(INSTANCE, record.execution_id)
    assert err.value.status_code == 400
    assert "unavailable for download" in err.value.message


def test_unknown_part_fails_without_leaking_the_url(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox)
    [url] = amc_client.get_download_urls(INSTANCE, execution_id)
    bad = url.replace("part-00000.csv", "part-00007.csv")
    stream = ResultStream(amc_client.result_source(INSTANCE, execution_id), urls=[bad])
    with pytest.raises(AmcApiError) as err:
        stream.read()
    stream.close()
    assert err.value.status_code == 404
    for text in (str(err.value), repr(err.value), repr(stream)):
        assert "X-Amz-Signature" not in text and "?" not in text


def test_tampered_signature_is_refused_then_refreshed(amc_client, sandbox):
    execution_id = _succeeded(amc_client, sandbox)
    [url] = amc_client.get_download_urls(INSTANCE, execution_id)
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    stream = ResultStream(amc_client.result_source(INSTANCE, execution_id), urls=[tampered])
    with stream:
        assert len(rows_of(stream.read())) == 21
        assert stream.url_refreshes == 1


@pytest.mark.parametrize("fault", ["malformed", "truncated"])
def test_faulty_csv_is_delivered_as_is(amc_client, sandbox, fault):
    execution_id = _succeeded(amc_client, sandbox, csv_fault=fault, rows=20)
    data = read_result(amc_client, INSTANCE, execution_id)
    assert data.startswith(",".join(COLUMNS).encode() + b"\n")
    if fault == "truncated":
        assert not data.endswith(b"\n")
        last = data.rsplit(b"\n", 1)[1]
        assert last.count(b",") < len(COLUMNS) - 1
    else:
        assert b'"unterminated quote,' in data
