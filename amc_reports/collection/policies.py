"""How long to wait between polls and before a retry, how long an execution and a run may take.

How a failure on AMC's side is submitted again: `CollectionPolicy`, the one backoff and budget that
`collection.next_step` decides with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amc_reports.amc.retry import exponential_delay


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask AMC about an execution.

    The interval grows with the time already waited (a tenth of it by default), between
    `min_seconds` and `max_seconds`: a 1-minute sandbox run is noticed within seconds, a 2-hour
    AMC run is asked about every 30 s, not every second.
    """

    min_seconds: float = 1.0
    max_seconds: float = 30.0
    elapsed_fraction: float = 0.1
    # How long one execution is waited for at most; None: AMC's execution timeout of the report
    # plus `WAIT_MARGIN_SECONDS` (see `max_wait_seconds`).
    max_wait_seconds: float | None = None

    def interval(self, elapsed_seconds: float) -> float:
        wanted = elapsed_seconds * self.elapsed_fraction
        return max(self.min_seconds, min(self.max_seconds, wanted))

    def wait_limit(self, timeout_seconds: int | None) -> float:
        """How long an execution with this AMC timeout is waited for before it is given up."""
        if self.max_wait_seconds is not None:
            return self.max_wait_seconds
        return max_wait_seconds(timeout_seconds)


@dataclass(frozen=True)
class CollectionPolicy:
    """What `collection.next_step` decides with: how often AMC is asked (`poll`), and how a
    failure on AMC's side is submitted again: after a wait that doubles each time (up to a cap),
    up to the report's `max_attempts` attempts in all."""

    max_attempts: int = 3
    first_delay_seconds: float = 60.0
    backoff_factor: float = 2.0
    max_delay_seconds: float = 900.0
    # Loads of one succeeded execution that may fail before a new execution is submitted.
    max_load_failures: int = 3
    poll: PollPolicy = PollPolicy()

    def delay(self, attempt: int) -> float:
        """The wait after the `attempt`-th attempt failed on AMC's side."""
        return exponential_delay(
            attempt,
            self.first_delay_seconds,
            factor=self.backoff_factor,
            max_seconds=self.max_delay_seconds,
        )


# AMC's own default execution timeout (workflowExecutionTimeoutSeconds).
AMC_DEFAULT_TIMEOUT_SECONDS = 21600
# How long past AMC's timeout an execution may still be waited for: AMC counts its timeout from
# the start of the run, and an execution may first wait in AMC's queue.
WAIT_MARGIN_SECONDS = 3600.0
# What a run needs besides waiting for AMC: starting, downloading and loading results.
RUN_OVERHEAD_SECONDS = 3600.0


def max_wait_seconds(
    timeout_seconds: int | None, margin_seconds: float = WAIT_MARGIN_SECONDS
) -> float:
    """How long one AMC execution is waited for before it is given up (and cancelled): above
    AMC's own execution timeout, so AMC always ends a healthy execution first."""
    return float(timeout_seconds or AMC_DEFAULT_TIMEOUT_SECONDS) + margin_seconds


def max_run_seconds(
    timeout_seconds: int | None,
    max_attempts: int,
    backoff: Callable[[int], float] | None = None,
) -> int:
    """The longest a run collecting one week (or a batch of weeks, collected side by side) may
    take: every attempt waited out to its limit, the backoffs between them, and the load. A run
    past it is stuck (Dagster's run monitoring terminates it and frees its pool slot)."""
    backoff = backoff or CollectionPolicy().delay
    waits = max_attempts * max_wait_seconds(timeout_seconds)
    backoffs = sum(backoff(attempt) for attempt in range(1, max_attempts))
    return int(waits + backoffs + RUN_OVERHEAD_SECONDS)
