"""How many failed logins the wall accepts before it makes a user name or a client wait.

Counted per user name (a password guessed against one account) and per client address (one
machine trying many accounts), in a sliding window, in the wall's memory: one wall process
answers all logins, and a restart forgetting the counts costs an attacker a restart's time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

# keys remembered at most (the oldest are forgotten first): bounded memory whatever is sent
MAX_KEYS = 10_000


@dataclass
class LoginLimiter:
    """Failed logins per user and per address within `window_seconds`."""

    per_user: int = 5
    per_address: int = 20
    window_seconds: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, user: str, address: str) -> float | None:
        """Seconds until this user or address may try again, or None: it may try now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key, limit in ((f"user:{user.lower()}", self.per_user),
                               (f"addr:{address}", self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.window_seconds - now)
        return max(waits) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"user:{user.lower()}", f"addr:{address}"):
                self._failures.setdefault(key, deque()).append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, user: str) -> None:
        """A right password: the user's own failures are forgiven (not the address's)."""
        with self._lock:
            self._failures.pop(f"user:{user.lower()}", None)
