"""Smoke test against live AMC: skipped unless credentials are in the environment.

AMC_CLIENT_ID=... AMC_CLIENT_SECRET=... AMC_REFRESH_TOKEN=... AMC_LIVE_ADVERTISER_ID=ENTITY...
AMC_LIVE_MARKETPLACE_ID=ATVPDKIKX0DER .venv/bin/pytest -m live
"""

import os

import pytest

from amc_reports.amc import AmcClient, AmcClientConfig, AmcCredentials

REQUIRED = (
    "AMC_CLIENT_ID",
    "AMC_CLIENT_SECRET",
    "AMC_REFRESH_TOKEN",
    "AMC_LIVE_ADVERTISER_ID",
    "AMC_LIVE_MARKETPLACE_ID",
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not all(os.environ.get(name) for name in REQUIRED),
        reason="live AMC credentials not set (" + ", ".join(REQUIRED) + ")",
    ),
]


def test_live_amc_lists_instances_with_our_client():
    config = AmcClientConfig.for_region(
        os.environ.get("AMC_LIVE_REGION", "NA"),
        AmcCredentials(
            client_id=os.environ["AMC_CLIENT_ID"],
            client_secret=os.environ["AMC_CLIENT_SECRET"],
            refresh_token=os.environ["AMC_REFRESH_TOKEN"],
        ),
        advertiser_id=os.environ["AMC_LIVE_ADVERTISER_ID"],
        marketplace_id=os.environ["AMC_LIVE_MARKETPLACE_ID"],
    )
    client = AmcClient(config)
    try:
        assert isinstance(client.list_instances(), list)
    finally:
        client.close()
