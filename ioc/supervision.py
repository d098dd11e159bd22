"""When a part of `ioc up` that exited is started again, and when it is a crash loop.

A part that dies once (a bug, an OOM kill, a row it could not digest) is restarted after a
back-off that doubles with each exit (1, 2, 4 ... at most 30 s), so a wall keeps serving
while one part recovers. More than `limit` restarts within `window_seconds` is a crash
loop: restarting again would only hide it, so `ioc up` stops and names the part.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_BACKOFF_SECONDS = 30.0


@dataclass
class RestartPolicy:
    """Exits of one part, on the supervisor's monotonic clock (seconds)."""

    limit: int = 5
    window_seconds: float = 600.0
    exits: deque[float] = field(default_factory=deque)

    def exited(self, now: float) -> float | None:
        """Record an exit at `now`; the back-off before restarting, or None: a crash loop."""
        self.exits.append(now)
        while self.exits and now - self.exits[0] > self.window_seconds:
            self.exits.popleft()
        if len(self.exits) > self.limit:
            return None
        return min(2.0 ** (len(self.exits) - 1), MAX_BACKOFF_SECONDS)

    @property
    def recent(self) -> int:
        """Exits within the window (the restart number of the latest one)."""
        return len(self.exits)
