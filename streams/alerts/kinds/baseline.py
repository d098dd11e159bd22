"""Baseline rules: a count over a window against the same window of earlier weeks (a drop
in payments or received dossiers against what is usual at that hour)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from streams.alerts.lifecycle import Observation
from streams.alerts.reads import StoredReads
from streams.alerts.rules import BaselineRule

RULE = BaselineRule


def observe(reads: StoredReads, rule: BaselineRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    table, where = (("payments", "") if rule.measure == "payments_count"
                    else ("dossier_events", " AND event_type = 'received'"))
    window = float(rule.window_seconds)
    week = 7 * 86400.0
    # this window, then the same window 1..weeks weeks earlier: (start, end) offsets
    spans = [(window + k * week, k * week) for k in range(rule.weeks + 1)]
    counts = ", ".join(
        f"(SELECT count(*) FROM {table} WHERE occurred_at > s.at - make_interval(secs => %s)"
        f" AND occurred_at <= s.at - make_interval(secs => %s){where}) AS c{k}"
        for k in range(len(spans)))
    steps = reads.steps(f"SELECT {counts}", ats, tuple(x for span in spans for x in span))
    out = []
    for rows in steps:
        current, *past = rows[0]
        past = [c for c in past if c > 0]  # weeks without any data: the system was not running
        if not past or sum(past) / len(past) < rule.min_baseline:
            out.append([])
            continue
        ratio = current / (sum(past) / len(past))
        clear = rule.clear_ratio if rule.clear_ratio is not None else rule.ratio_below
        out.append([Observation({}, ratio, ratio < rule.ratio_below, ratio >= clear,
                                rule.ratio_below)])
    return out
