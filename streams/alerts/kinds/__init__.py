"""One module per rule kind: how its observations at a batch of event-time steps are
computed from the stored events (`observe(reads, rule, ats, origin, watched)`).

A new kind is a rule class in `streams/alerts/rules.py` and a module here, named in `KINDS`
(its `RULE` says which rule class it evaluates).
"""

from __future__ import annotations

from types import ModuleType

from streams.alerts.kinds import (
    absence,
    baseline,
    link_quality,
    pipeline,
    staleness,
    threshold,
    watchdog,
)

KINDS: dict[type, ModuleType] = {kind.RULE: kind for kind in (
    threshold, baseline, absence, link_quality, staleness, pipeline, watchdog)}
