"""Threshold rules: a measure over a sliding window per entity (portal errors and latency,
payment success, dossiers resolved on time, dossiers overdue and open) against a threshold
or a province target."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta

from streams.alerts.judging import is_well, judge
from streams.alerts.lifecycle import Observation
from streams.alerts.reads import OCCURRED_US, StoredReads
from streams.alerts.rules import ThresholdRule
from streams.alerts.windows import exact, mean, per_step

RULE = ThresholdRule


def observe(reads: StoredReads, rule: ThresholdRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    m = rule.measure
    if m not in ("dossier_on_time_ratio", "dossier_overdue_open"):
        return _windowed(reads, rule, ats, watched)
    if m == "dossier_on_time_ratio":  # every minute: one query over the batch's steps
        steps = reads.steps(
            "SELECT agency_code AS k, count(*) AS n,"
            "       avg((occurred_at <= due_at)::int)::float AS v"
            "  FROM dossier_events WHERE event_type = 'resolved'"
            "   AND occurred_at > s.at - make_interval(secs => %s) AND occurred_at <= s.at"
            " GROUP BY agency_code ORDER BY agency_code", ats,
            (float(rule.window_seconds),))
    else:
        steps = _overdue_open(reads, rule, ats)
    verdict, least = judge(rule, reads.province), rule.min_count
    return [[verdict({"agency": code, "agency_name": reads.agencies.get(code, code)},
                     value if count >= least else None)
             for code, count, value in rows] for rows in steps]


def _overdue_open(reads: StoredReads, rule: ThresholdRule,
                  ats: list[datetime]) -> list[list[tuple]]:
    """Per step, per agency: dossiers received within the window before it, overdue at
    it and not resolved by it. Each such dossier counts over one stretch of time (from
    when it is both received and overdue until it is resolved or leaves the window), so
    the batch reads the dossiers overdue and open somewhere in it once, with their first
    resolution, instead of the window's 30 days of dossiers at every step."""
    width = timedelta(seconds=rule.window_seconds)
    first, last = ats[0], ats[-1]
    counts: dict[str, list[int]] = {}
    for agency, received, due, resolved in reads.rows(
            "SELECT r.agency_code, r.occurred_at, r.due_at, res.at"
            "  FROM dossier_events r LEFT JOIN LATERAL (SELECT min(d.occurred_at) AS at"
            "       FROM dossier_events d WHERE d.dossier_id = r.dossier_id"
            "        AND d.event_type = 'resolved' AND d.occurred_at <= %s) AS res ON true"
            " WHERE r.event_type = 'received' AND r.occurred_at > %s"
            "   AND r.occurred_at <= %s AND r.due_at < %s"
            "   AND (res.at IS NULL OR res.at > %s)",
            (last, first - width, last, last, first)):
        # the steps it counts at: received <= at, due < at, at < received + window,
        # and not resolved by then (resolved > at)
        begin = max(bisect_left(ats, received), bisect_right(ats, due))
        end = bisect_left(ats, received + width)
        if resolved is not None:
            end = min(end, bisect_left(ats, resolved))
        if begin < end:
            per_step_count = counts.setdefault(agency, [0] * (len(ats) + 1))
            per_step_count[begin] += 1
            per_step_count[end] -= 1
    steps: list[list[tuple]] = [[] for _ in ats]
    for agency in sorted(counts):
        open_now = 0
        for step, change in enumerate(counts[agency][:-1]):
            open_now += change
            if open_now:
                steps[step].append((agency, open_now, float(open_now)))
    return steps


def _windowed(reads: StoredReads, rule: ThresholdRule, ats: list[datetime],
              watched: Callable[[Observation], bool] | None) -> list[list[Observation]]:
    """A threshold rule over a sliding window of portal health or payments."""
    m, seconds = rule.measure, rule.window_seconds
    if m in ("portal_error_ratio", "portal_latency_p95_ms"):
        column = "p95_latency_ms" if m == "portal_latency_p95_ms" else "errors"
        rows = reads.span(f"SELECT portal_code, {OCCURRED_US}, requests, {column}"
                          " FROM portal_health WHERE occurred_at > %s AND occurred_at <= %s",
                          ats, seconds)
        if m == "portal_error_ratio":  # count: requests
            runs = reads.slide(rows, ats, seconds)

            def count_value(asked: int, failed: int) -> tuple[int, float | None]:
                return asked, failed / asked if asked else None
        else:  # count: health reports
            runs = reads.slide(((k, t, 1, exact(v)) for k, t, _, v in rows), ats, seconds)

            def count_value(n: int, total: int) -> tuple[int, float | None]:
                return n, mean(total, n)

        def labels_of(code: str) -> dict[str, str]:
            return {"portal": code, "portal_name": reads.portals.get(code, code)}
    else:  # payment_success_ratio; count: payments
        rows = reads.span(f"SELECT category, {OCCURRED_US}, status = 'succeeded'"
                          " FROM payments WHERE occurred_at > %s AND occurred_at <= %s",
                          ats, seconds)
        runs = reads.slide(((k, t, 1, int(ok)) for k, t, ok in rows), ats, seconds)

        def count_value(n: int, ok: int) -> tuple[int, float | None]:
            return n, ok / n

        def labels_of(code: str) -> dict[str, str]:
            return {"category": code}
    verdict, least = judge(rule, reads.province), rule.min_count

    def judged(code: str, x: int, y: int) -> Observation:
        count, value = count_value(x, y)
        return verdict(labels_of(code), value if count >= least else None)
    return per_step(runs, len(ats), judged, is_well, watched)
