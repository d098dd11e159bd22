"""Rule values at one event-time step, computed in the database from the stored events.

Every event-time query reads only rows with `occurred_at <= at`, so evaluating the same
step on the same data gives the same answer whenever it runs (live or replayed). Pipeline
rules are the exception: they describe the running system and read wall time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg

from ioc.calendar import WorkCalendar
from ioc.contract import EARLIEST, FEEDS, LATEST
from ioc.errors import RuleEvaluationError
from ioc.province import Province
from streams.alerts.lifecycle import Observation
from streams.alerts.rules import (
    AbsenceRule,
    BaselineRule,
    LinkQualityRule,
    PipelineRule,
    StalenessRule,
    ThresholdRule,
    WatchdogRule,
    _Compared,
)

SOURCES = {"dossiers": "dossier_events", "portal_health": "portal_health",
           "heartbeats": "link_heartbeats", "consultations": "consultations",
           "payments": "payments"}
FEED_TABLES = {"portal": ("dossier_events", "portal_health"),
               "telemedicine": ("link_heartbeats", "consultations"),
               "payments": ("payments",)}


def threshold_of(rule: _Compared, province: Province) -> tuple[float, float]:
    """(threshold, clear bound) of a compared rule, resolving province targets."""
    if rule.threshold_from:
        threshold = getattr(province.targets, rule.threshold_from.split(":", 1)[1])
        margin = rule.clear_margin if rule.op == "<" else -rule.clear_margin
        return threshold, rule.clear if rule.clear is not None else threshold + margin
    assert rule.threshold is not None
    return rule.threshold, rule.clear if rule.clear is not None else rule.threshold


def compare(rule: _Compared, province: Province, labels: dict[str, str],
            value: float | None) -> Observation:
    threshold, clear = threshold_of(rule, province)
    if value is None:
        return Observation(labels, None, False, True, threshold)
    if rule.op == "<":
        return Observation(labels, value, value < threshold, value >= clear, threshold)
    return Observation(labels, value, value > threshold, value <= clear, threshold)


class Evaluator:
    """Computes each rule's observations at a step; entity names come from the province."""

    def __init__(self, conn: psycopg.Connection, province: Province, calendar: WorkCalendar,
                 lag: Callable[[], int | None] | None = None,
                 stalled: Callable[[], dict[str, float] | None] | None = None,
                 rule_errors: Callable[[], dict[str, int]] | None = None):
        self.conn = conn
        self.lag = lag  # the workers' consumer lag (messages), when a broker is known
        self.stalled = stalled  # per feed: seconds its backlog has waited with no progress
        self.rule_errors = rule_errors  # per failing rule: its failed evaluations in a row
        self.province = province
        self.calendar = calendar
        self.agencies = {a.code: a.name_vi for a in province.agencies}
        self.portals = {p.code: p.name_vi for p in province.portals}
        units = {u.code: u.name_vi for u in province.units}
        self.links = {h.link_id: {"link_id": h.link_id, "hospital": h.code,
                                  "hospital_name": h.name_vi, "unit": h.unit,
                                  "unit_name": units.get(h.unit, h.unit)}
                      for h in province.hospitals}

    def _rows(self, query: str, params: tuple) -> list[tuple]:
        return self.conn.execute(query, params).fetchall()

    def evaluate(self, rule, at: datetime, origin: datetime) -> list[Observation]:
        """Observations of `rule` at event time `at` (`origin`: when evaluation began).

        `RuleEvaluationError` when the stored data cannot give this rule a value (a query
        the database refuses, a value that is not finite): the caller sets the rule aside
        and goes on with the others. A lost connection is not the rule's fault and passes.
        """
        method = {ThresholdRule: self._threshold, BaselineRule: self._baseline,
                  AbsenceRule: self._absence, LinkQualityRule: self._link_quality,
                  StalenessRule: self._staleness, PipelineRule: self._pipeline,
                  WatchdogRule: self._watchdog}[type(rule)]
        try:
            observations = method(rule, at, origin)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise RuleEvaluationError(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        for o in observations:
            if o.value is not None and not math.isfinite(o.value):
                raise RuleEvaluationError(f"value {o.value} for {o.labels} is not finite")
        if rule.labels:
            observations = [Observation({**rule.labels, **o.labels}, o.value, o.breach, o.clear,
                                        o.threshold) for o in observations]
        return observations

    def _threshold(self, rule: ThresholdRule, at: datetime, origin: datetime) -> list[Observation]:
        since = at - timedelta(seconds=rule.window_seconds)
        m = rule.measure
        if m == "dossier_on_time_ratio":
            rows = self._rows(
                "SELECT agency_code, count(*), avg((occurred_at <= due_at)::int)::float"
                "  FROM dossier_events WHERE event_type = 'resolved'"
                "   AND occurred_at > %s AND occurred_at <= %s GROUP BY agency_code",
                (since, at))
            key, names = "agency", self.agencies
        elif m == "dossier_overdue_open":
            rows = self._rows(
                "SELECT r.agency_code, count(*), count(*)::float FROM dossier_events r"
                " WHERE r.event_type = 'received' AND r.occurred_at > %s AND r.occurred_at <= %s"
                "   AND r.due_at < %s AND NOT EXISTS (SELECT 1 FROM dossier_events d"
                "       WHERE d.dossier_id = r.dossier_id AND d.event_type = 'resolved'"
                "         AND d.occurred_at <= %s)"
                " GROUP BY r.agency_code", (since, at, at, at))
            key, names = "agency", self.agencies
        elif m in ("portal_error_ratio", "portal_latency_p95_ms"):
            value = ("sum(errors)::float / nullif(sum(requests), 0)" if m == "portal_error_ratio"
                     else "avg(p95_latency_ms)")
            count = "sum(requests)" if m == "portal_error_ratio" else "count(*)"
            rows = self._rows(
                f"SELECT portal_code, {count}, {value} FROM portal_health"
                " WHERE occurred_at > %s AND occurred_at <= %s GROUP BY portal_code",
                (since, at))
            key, names = "portal", self.portals
        else:  # payment_success_ratio
            rows = self._rows(
                "SELECT category, count(*), avg((status = 'succeeded')::int)::float FROM payments"
                " WHERE occurred_at > %s AND occurred_at <= %s GROUP BY category", (since, at))
            key, names = "category", None
        out = []
        for code, count, value in rows:
            labels = {key: code}
            if names is not None:
                labels[f"{key}_name"] = names.get(code, code)
            out.append(compare(rule, self.province, labels,
                               value if count >= rule.min_count else None))
        return out

    def _count(self, measure: str, start: datetime, end: datetime) -> int:
        table, where = (("payments", "") if measure == "payments_count"
                        else ("dossier_events", " AND event_type = 'received'"))
        return self._rows(f"SELECT count(*) FROM {table} WHERE occurred_at > %s"
                          f" AND occurred_at <= %s{where}", (start, end))[0][0]

    def _baseline(self, rule: BaselineRule, at: datetime, origin: datetime) -> list[Observation]:
        window = timedelta(seconds=rule.window_seconds)
        current = self._count(rule.measure, at - window, at)
        past = [self._count(rule.measure, at - window - timedelta(weeks=k), at - timedelta(weeks=k))
                for k in range(1, rule.weeks + 1)]
        past = [c for c in past if c > 0]  # weeks without any data: the system was not running
        if not past or sum(past) / len(past) < rule.min_baseline:
            return []
        ratio = current / (sum(past) / len(past))
        clear = rule.clear_ratio if rule.clear_ratio is not None else rule.ratio_below
        return [Observation({}, ratio, ratio < rule.ratio_below, ratio >= clear, rule.ratio_below)]

    def _absence(self, rule: AbsenceRule, at: datetime, origin: datetime) -> list[Observation]:
        last = dict(self._rows(
            "SELECT link_id, max(occurred_at) FROM link_heartbeats"
            " WHERE occurred_at > %s AND occurred_at <= %s GROUP BY link_id",
            (at - timedelta(seconds=rule.lookback_seconds), at)))
        clear = rule.clear_seconds if rule.clear_seconds is not None else rule.silent_seconds
        out = []
        for link_id, labels in self.links.items():  # only the links the province file expects
            seen = max(last.get(link_id) or origin, origin)
            silent = (at - seen).total_seconds()
            out.append(Observation(labels, silent, silent > rule.silent_seconds, silent <= clear,
                                   rule.silent_seconds))
        return out

    def _link_quality(self, rule: LinkQualityRule, at: datetime,
                      origin: datetime) -> list[Observation]:
        value = {"latency_ms": "avg(latency_ms)", "loss_pct": "avg(loss_pct)",
                 "down_ratio": "avg((status = 'down')::int)::float"}[rule.measure]
        count = "count(*)" if rule.measure == "down_ratio" else f"count({rule.measure})"
        rows = self._rows(
            f"SELECT link_id, {count}, {value} FROM link_heartbeats"
            " WHERE occurred_at > %s AND occurred_at <= %s GROUP BY link_id",
            (at - timedelta(seconds=rule.window_seconds), at))
        return [compare(rule, self.province, self.links.get(link_id, {"link_id": link_id}),
                        value if count >= rule.min_count else None)
                for link_id, count, value in rows]

    def _staleness(self, rule: StalenessRule, at: datetime, origin: datetime) -> list[Observation]:
        labels = {"feed": rule.feed, "source": rule.source}
        if rule.working_hours_only:
            since = at - timedelta(seconds=rule.silent_seconds)
            if not (self.calendar.is_working_time(at) and self.calendar.is_working_time(since)
                    and since.astimezone(self.calendar.tz).date()
                    == at.astimezone(self.calendar.tz).date()):
                return [Observation(labels, None, False, True, rule.silent_seconds)]
        newest = self._rows(f"SELECT max(occurred_at) FROM {SOURCES[rule.source]}"
                            " WHERE occurred_at <= %s AND occurred_at > %s",
                            (at, at - timedelta(days=1)))[0][0]
        silent = (at - max(newest or origin, origin)).total_seconds()
        return [Observation(labels, silent, silent > rule.silent_seconds,
                            silent <= rule.silent_seconds, rule.silent_seconds)]

    def _pipeline(self, rule: PipelineRule, at: datetime, origin: datetime) -> list[Observation]:
        # wall time: `at` is the database's now()
        if rule.measure == "dead_letters":
            value = self._rows("SELECT count(*) FROM dead_letters WHERE received_at > %s",
                               (at - timedelta(seconds=rule.window_seconds),))[0][0]
        elif rule.measure == "rule_errors":  # one alert per rule that cannot be evaluated
            failing = self.rule_errors() if self.rule_errors else {}
            return [compare(rule, self.province, {"rule": name}, float(count))
                    for name, count in sorted(failing.items())]
        elif rule.measure == "part_restarts":  # one alert per part ioc up restarted
            return [compare(rule, self.province, {"part": part}, float(count))
                    for part, count in self._rows(
                        "SELECT part, count(*) FROM part_restarts WHERE restarted_at > %s"
                        " GROUP BY part ORDER BY part",
                        (at - timedelta(seconds=rule.window_seconds),))]
        elif rule.measure == "consumer_lag":
            value = self.lag() if self.lag else None
        elif rule.measure == "backlog_stalled_seconds":  # one alert per feed
            stalled = self.stalled() if self.stalled else None
            return [compare(rule, self.province, {"feed": feed},
                            None if stalled is None else stalled.get(feed, 0.0))
                    for feed in FEEDS]
        elif rule.measure == "wall_silent_seconds":  # one alert per kiosk wall
            return [compare(rule, self.province, {"wall": wall, "page": page}, silent)
                    for wall, page, silent in self._rows(
                        "SELECT wall_id, page, extract(epoch FROM %s - last_seen_at)::float"
                        "  FROM wall_heartbeats WHERE kiosk AND last_seen_at > %s",
                        (at, at - timedelta(seconds=rule.window_seconds)))]
        else:
            newest = newest_stored(self.conn)
            value = (at - newest).total_seconds() if newest else None
        return [compare(rule, self.province, {}, value)]

    def _watchdog(self, rule: WatchdogRule, at: datetime, origin: datetime) -> list[Observation]:
        return [Observation({}, 1.0, True, False, None)]


def _newest(table: str, column: str) -> str:
    # stored_at has no index: take it from the newest rows by event time (indexed), which
    # are the ones just stored in practice
    return (f"(SELECT max({column}) FROM (SELECT {column} FROM {table}"
            f" ORDER BY occurred_at DESC LIMIT 50) AS t)")


# Rows stored before the contract bounded times (year 1, year 10000) cannot be read back
# into Python: the engine's own reads of the oldest and newest events skip them.
_READABLE = "occurred_at >= %(earliest)s AND occurred_at < %(latest)s"
_BOUNDS = {"earliest": EARLIEST, "latest": LATEST}


def feed_positions(conn: psycopg.Connection) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Per feed: (newest event time stored, wall time the newest rows were stored)."""
    out = {}
    for feed, tables in FEED_TABLES.items():
        occurred = ", ".join(f"(SELECT max(occurred_at) FROM {t} WHERE {_READABLE})"
                             for t in tables)
        stored = ", ".join(_newest(t, "stored_at") for t in tables)
        out[feed] = conn.execute(f"SELECT greatest({occurred}), greatest({stored})",
                                 _BOUNDS).fetchone()
    return out


def newest_stored(conn: psycopg.Connection) -> datetime | None:
    stored = [s for _, s in feed_positions(conn).values() if s]
    return max(stored) if stored else None


def oldest_event(conn: psycopg.Connection) -> datetime | None:
    return conn.execute("SELECT least(" + ", ".join(
        f"(SELECT min(occurred_at) FROM {t} WHERE {_READABLE})" for t in SOURCES.values())
        + ")", _BOUNDS).fetchone()[0]
