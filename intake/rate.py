"""How fast each source may send: a token bucket per source, counted in events."""

from __future__ import annotations

import time
from collections.abc import Callable

from intake.body import MAX_EVENTS


class RateLimit:
    """`rate` events a second per source on average, in bursts of up to ten seconds' worth
    (never less than one full request, so a source may always send its largest batch)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.clock = rate, clock
        self.burst = max(rate * 10, float(MAX_EVENTS))
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, at)

    def take(self, source: str, events: int) -> float:
        """Take `events` from `source`'s bucket: 0 when it may send them now, else the
        seconds until it may (nothing is taken then)."""
        now = self.clock()
        tokens, at = self._buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= events:
            self._buckets[source] = (tokens - events, now)
            return 0.0
        self._buckets[source] = (tokens, now)
        return (events - tokens) / self.rate
