"""Fixture: a real local HTTP webhook receiver (a small server on a free port) for notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amc_reports_tests.support.webhook import WebhookReceiver, start_receiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = start_receiver()
    try:
        yield receiver
    finally:
        receiver.close()
