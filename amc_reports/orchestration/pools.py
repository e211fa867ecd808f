"""How many runs each AMC instance's concurrency pool admits (`amc-reports init-pools` sets them).

AMC runs 10 executions of an instance at once and queues the rest (amc-api.md). A pool of exactly
10 one-week runs leaves AMC's slots idle while the next runs start: a run only submits once it holds
a slot, and it holds the slot until its checks are done. So the pool also admits `queue_ahead`
more weeks: their executions wait PENDING at AMC and start the moment a slot frees, while the runs
ahead of them download, load and check. An account runs at most 200 executions at once over all
its instances, so the queue-ahead only uses that headroom: it never raises what the account's
instances submit together above 200, and never lowers a pool below AMC's 10.

A pool counts runs. When an instance's reports batch N weeks per backfill run, its pool admits
(10 + queue_ahead) // N runs (at least 1), so AMC still sees at most 10 + queue_ahead weeks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from amc_reports.config import (
    AMC_MAX_RUNNING_PER_ACCOUNT,
    AMC_MAX_RUNNING_PER_INSTANCE,
    InstanceConfig,
    ReportsConfig,
)

DEFAULT_QUEUE_AHEAD = AMC_MAX_RUNNING_PER_INSTANCE


@dataclass(frozen=True)
class PoolLimit:
    """The limit of one instance's pool, and what it is made of."""

    pool: str
    runs: int  # runs admitted at once
    weeks_per_run: int  # the largest backfill batch of the instance's reports
    queue_ahead: int  # weeks beyond AMC's 10 that may wait PENDING at AMC

    @property
    def weeks_in_flight(self) -> int:
        return self.runs * self.weeks_per_run


def pool_limits(
    config: ReportsConfig, queue_ahead: int = DEFAULT_QUEUE_AHEAD
) -> dict[str, PoolLimit]:
    """The pool limit of every instance of `config`, by alias (instances without a report too)."""
    if queue_ahead < 0:
        raise ValueError(f"queue_ahead must be 0 or more weeks, got {queue_ahead}")
    with_reports = {target.instance.alias for target in config.targets()}
    per_account = Counter(
        instance.advertiser_id
        for alias, instance in config.instances.items()
        if alias in with_reports
    )
    limits = {}
    for alias, instance in sorted(config.instances.items()):
        batch = max(
            (
                t.report.backfill_weeks_per_run
                for t in config.targets()
                if t.instance.alias == alias
            ),
            default=1,
        )
        ahead = _account_queue_ahead(instance, per_account, queue_ahead)
        runs = max(1, (AMC_MAX_RUNNING_PER_INSTANCE + ahead) // batch)
        limits[alias] = PoolLimit(instance.pool, runs, batch, ahead)
    return limits


def _account_queue_ahead(
    instance: InstanceConfig, per_account: Counter[str], queue_ahead: int
) -> int:
    """`queue_ahead`, cut so that the account's instances stay within its 200 executions."""
    instances = per_account.get(instance.advertiser_id, 0) or 1
    headroom = AMC_MAX_RUNNING_PER_ACCOUNT - AMC_MAX_RUNNING_PER_INSTANCE * instances
    return max(0, min(queue_ahead, headroom // instances))
