"""A link's last probes and the heartbeat figures made from them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW = 10     # probes a heartbeat's latency, jitter and loss are taken over
DOWN_AFTER = 3  # a link is down once this many probes in a row failed


@dataclass(frozen=True)
class Figures:
    status: str                # up | down
    latency_ms: float | None   # mean round trip of the successful probes
    jitter_ms: float | None    # mean difference between consecutive successful round trips
    loss_pct: float            # failed probes, in per cent of the window


class LinkWindow:
    def __init__(self, size: int = WINDOW):
        self._probes: deque[float | None] = deque(maxlen=size)

    def add(self, seconds: float | None) -> None:
        self._probes.append(seconds)

    def figures(self) -> Figures:
        probes = list(self._probes)
        if not probes:
            raise ValueError("no probe yet")
        ok = [p for p in probes if p is not None]
        recent = probes[-DOWN_AFTER:]
        down = all(p is None for p in recent)
        latency = round(sum(ok) / len(ok) * 1000, 2) if ok else None
        steps = [abs(b - a) for a, b in zip(ok, ok[1:], strict=False)]
        jitter = round(sum(steps) / len(steps) * 1000, 2) if steps else (0.0 if ok else None)
        return Figures("down" if down else "up", latency, jitter,
                       round(100 * (len(probes) - len(ok)) / len(probes), 1))
