"""Which AMC instances some credentials can see: `GET /amc/accounts`, then `GET /amc/instances`
for each account (AMC lists an account's instances with that account's headers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amc_reports.amc.client import AmcClient


@dataclass(frozen=True)
class DiscoveredInstance:
    """One AMC instance and the account it belongs to, as AMC lists them."""

    instance_id: str
    instance_name: str
    instance_type: str
    creation_status: str
    advertiser_id: str
    account_name: str
    marketplace_id: str

    @property
    def usable(self) -> bool:
        """AMC finished creating it (an instance still being created cannot run queries)."""
        return self.creation_status in ("", "COMPLETED")


def discover_instances(
    client_for: Callable[[str | None, str | None], AmcClient],
) -> list[DiscoveredInstance]:
    """Every instance of every account the credentials see, ordered by account then name.

    `client_for(advertiser_id, marketplace_id)` gives a client of the credentials for that
    account (`None, None`: account-level calls only).
    """
    with client_for(None, None) as client:
        accounts = client.list_accounts()
    found: list[DiscoveredInstance] = []
    for account in accounts:
        advertiser_id = str(account.get("accountId") or "")
        marketplace_id = str(account.get("marketplaceId") or "")
        if not advertiser_id or not marketplace_id:
            continue
        with client_for(advertiser_id, marketplace_id) as client:
            instances = client.list_instances()
        for item in instances:
            instance_id = str(item.get("instanceId") or "")
            if not instance_id:
                continue
            found.append(
                DiscoveredInstance(
                    instance_id=instance_id,
                    instance_name=str(item.get("instanceName") or ""),
                    instance_type=str(item.get("instanceType") or ""),
                    creation_status=str(item.get("creationStatus") or ""),
                    advertiser_id=advertiser_id,
                    account_name=str(account.get("accountName") or ""),
                    marketplace_id=marketplace_id,
                )
            )
    found.sort(key=lambda i: (i.account_name, i.advertiser_id, i.instance_name, i.instance_id))
    return found
