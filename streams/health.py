"""Stall detection: is the worker still storing what arrives?

Faust-streaming can lose a consumer silently (issues #175, #523, #640: the fetcher dies or a
partition stops being read while the worker looks alive), so liveness is checked from the
outcome, not assumed from the process being up. Two rules, over `stall_seconds`:
- a partition with lag (events on the broker beyond what is stored) whose stored position has
  not moved for that long is stalled (a stuck agent, a database outage, a dead fetch);
- a fetch loop that has not completed a poll for that long is stalled, unless it is merely
  waiting for a busy agent to take its batch (back-pressure) or a rebalance is under way;
  back-pressure excuses it only while an agent took a batch within that time (a stuck agent
  pauses its feed's partitions, whose lag then goes unseen: its silence is the signal).

The detector is pure logic over numbers the worker gives it (`assess`); the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Assessment:
    """One look at the worker: lag per partition, and why it is stalled (empty: healthy)."""

    at: float
    lag: dict[Hashable, int]
    reasons: list[str] = field(default_factory=list)

    @property
    def stalled(self) -> bool:
        return bool(self.reasons)


class StallDetector:
    """Keeps per-partition progress between looks and applies the two rules above."""

    def __init__(self, stall_seconds: float, started_at: float):
        self.stall_seconds = stall_seconds
        self._started_at = started_at
        self._created_at = started_at  # no agent can have taken a batch before this
        self._position: dict[Hashable, int] = {}
        self._waiting_since: dict[Hashable, float] = {}
        self.last: Assessment = Assessment(started_at, {})

    def assess(self, now: float, ends: Mapping[Hashable, int | None],
               positions: Mapping[Hashable, int | None], last_poll: float,
               waiting_on_agent: bool = False, rebalancing: bool = False,
               last_handed: float | None = None) -> Assessment:
        """`ends`: assigned partition -> end offset (high watermark) if known; `positions`:
        partition -> next offset to store if known; `last_poll`: time of the last poll;
        `last_handed`: time an agent last took a batch (None: not known, always excused)."""
        lag: dict[Hashable, int] = {}
        reasons: list[str] = []
        for tp in list(self._waiting_since):
            if tp not in ends:  # revoked: forget it
                self._waiting_since.pop(tp, None)
                self._position.pop(tp, None)
        for tp, end in ends.items():
            pos = positions.get(tp)
            if end is None or pos is None:
                continue
            behind = max(0, end - pos)
            lag[tp] = behind
            moved = self._position.get(tp) != pos
            self._position[tp] = pos
            if behind == 0 or moved or tp not in self._waiting_since:
                self._waiting_since[tp] = now
            elif now - self._waiting_since[tp] > self.stall_seconds:
                reasons.append(f"{_name(tp)}: {behind} events waiting, nothing stored for "
                               f"{now - self._waiting_since[tp]:.0f} s")
        polled = max(last_poll, self._started_at)
        handed = max(last_handed, self._created_at) if last_handed is not None else now
        if waiting_on_agent and not rebalancing and now - handed > self.stall_seconds:
            reasons.append(f"batches wait for an agent that has taken none for "
                           f"{now - handed:.0f} s")
        elif rebalancing or waiting_on_agent:
            self._started_at = now  # the fetch loop is legitimately not polling
        elif now - polled > self.stall_seconds:
            reasons.append(f"the fetch loop has not polled Kafka for {now - polled:.0f} s")
        self.last = Assessment(now, lag, reasons)
        return self.last

    def stalled_seconds(self) -> dict[Hashable, float]:
        """Per partition with lag at the last look: for how long its stored position has not
        moved (the alerter's backlog-stall rule reads this from the outside)."""
        return {tp: self.last.at - self._waiting_since[tp]
                for tp, behind in self.last.lag.items() if behind > 0}


def _name(tp: Hashable) -> str:
    if isinstance(tp, tuple) and len(tp) == 2:
        return f"{tp[0]}[{tp[1]}]"
    return str(tp)
