"""Link quality rules: a link's latency, loss or share of heartbeats reporting down over a
sliding window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from streams.alerts.judging import is_well, judge
from streams.alerts.lifecycle import Observation
from streams.alerts.reads import StoredReads
from streams.alerts.rules import LinkQualityRule
from streams.alerts.windows import exact, mean, per_step

RULE = LinkQualityRule


def observe(reads: StoredReads, rule: LinkQualityRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    rows = reads.heartbeats(ats, rule.window_seconds)
    verdict, least = judge(rule, reads.province), rule.min_count
    links = reads.links
    if rule.measure == "down_ratio":  # count: heartbeats; value: the share reporting down
        runs = reads.slide(((k, t, 1, int(down)) for k, t, _, _, down in rows), ats,
                           rule.window_seconds)

        def judged(link_id: str, n: int, down: int) -> Observation:
            return verdict(links.get(link_id, {"link_id": link_id}),
                           down / n if n >= least else None)
    else:  # count: heartbeats that measured it; value: their mean
        column = 2 if rule.measure == "latency_ms" else 3
        runs = reads.slide(((r[0], r[1], 0, 0) if r[column] is None
                            else (r[0], r[1], 1, exact(r[column])) for r in rows), ats,
                           rule.window_seconds)

        def judged(link_id: str, n: int, total: int) -> Observation:
            return verdict(links.get(link_id, {"link_id": link_id}),
                           mean(total, n) if n >= least else None)
    return per_step(runs, len(ats), judged, is_well, watched)
