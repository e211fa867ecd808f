"""How long to wait between status polls, and how to submit again after AMC rejects (pure)."""

from __future__ import annotations

from dataclasses import dataclass


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

    def interval(self, elapsed_seconds: float) -> float:
        wanted = elapsed_seconds * self.elapsed_fraction
        return max(self.min_seconds, min(self.max_seconds, wanted))


@dataclass(frozen=True)
class RejectionPolicy:
    """AMC answers REJECTED when too many executions overlap: submit again later, with backoff."""

    max_attempts: int = 4
    first_delay_seconds: float = 120.0
    backoff_factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return self.first_delay_seconds * self.backoff_factor ** (attempt - 1)
