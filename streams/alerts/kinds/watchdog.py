"""The watchdog: always firing, so a silent notification path is noticed (as
Alertmanager's own Watchdog)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from streams.alerts.lifecycle import Observation
from streams.alerts.reads import StoredReads
from streams.alerts.rules import WatchdogRule

RULE = WatchdogRule


def observe(reads: StoredReads, rule: WatchdogRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    return [[Observation({}, 1.0, True, False, None)] for _ in ats]
