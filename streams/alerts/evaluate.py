"""Rule values at event-time steps, computed from the stored events.

Every event-time step reads only rows with `occurred_at <= at`, so evaluating the same
step on the same data gives the same answer whenever it runs (live or replayed). Rules over
a sliding window read the rows of a whole batch of steps once and slide the window in
Python (`windows`); the others run one query for the batch. Pipeline rules are the
exception: they describe the running system and read wall time.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from functools import partial

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
from streams.alerts.windows import (
    ONE_US,
    check_ascending,
    exact,
    mean,
    micros,
    newest,
    per_step,
    sliding,
)

# occurred_at in whole microseconds since the epoch (as `micros` gives it), computed by the
# database: exact (extract gives a numeric), and integers slide many times faster
OCCURRED_US = "(extract(epoch FROM occurred_at) * 1000000)::int8"

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


def judge(rule: _Compared, province: Province
          ) -> Callable[[dict[str, str], float | None], Observation]:
    """The rule's verdict on (labels, value): its threshold resolved once for many."""
    threshold, clear = threshold_of(rule, province)
    below = rule.op == "<"

    def verdict(labels: dict[str, str], value: float | None) -> Observation:
        if value is None:
            return Observation(labels, None, False, True, threshold)
        if not math.isfinite(value):
            raise RuleEvaluationError(f"value {value} for {labels} is not finite")
        if below:
            return Observation(labels, value, value < threshold, value >= clear, threshold)
        return Observation(labels, value, value > threshold, value <= clear, threshold)
    return verdict


def is_well(observation: Observation) -> bool:
    """Neither breaching nor short of its clear bound: nothing to tell the lifecycle again."""
    return not observation.breach and observation.clear


def compare(rule: _Compared, province: Province, labels: dict[str, str],
            value: float | None) -> Observation:
    return judge(rule, province)(labels, value)


class Evaluator:
    """Computes each rule's observations at a step; entity names come from the province."""

    def __init__(self, conn: psycopg.Connection, province: Province, calendar: WorkCalendar,
                 lag: Callable[[], int | None] | None = None,
                 stalled: Callable[[], dict[str, float] | None] | None = None,
                 rule_errors: Callable[[], dict[str, int]] | None = None,
                 brokers: Callable[[], dict[int, int] | None] | None = None):
        self.conn = conn
        self.lag = lag  # the workers' consumer lag (messages), when a broker is known
        self.stalled = stalled  # per feed: seconds its backlog has waited with no progress
        self.rule_errors = rule_errors  # per failing rule: its failed evaluations in a row
        self.brokers = brokers  # per broker: its copies of the feeds' partitions out of sync
        self.province = province
        self.calendar = calendar
        self.agencies = {a.code: a.name_vi for a in province.agencies}
        self.portals = {p.code: p.name_vi for p in province.portals}
        units = {u.code: u.name_vi for u in province.units}
        # within `batch`: the batch's heartbeats, (read from, last step, rows), once read
        self._batching = False
        self._heartbeats_read: tuple[datetime, datetime, list[tuple]] | None = None
        self._widest = 0.0  # the widest window asked of the heartbeats
        self.links = {h.link_id: {"link_id": h.link_id, "hospital": h.code,
                                  "hospital_name": h.name_vi, "unit": h.unit,
                                  "unit_name": units.get(h.unit, h.unit)}
                      for h in province.hospitals}

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Within it, the rules of one batch of steps share their reads of the same table
        (the three link rules read the heartbeats once): the engine's batch, during which
        the stored rows of its steps do not change."""
        self._batching, self._heartbeats_read = True, None
        try:
            yield
        finally:
            self._batching, self._heartbeats_read = False, None

    def _rows(self, query: str, params: tuple) -> list[tuple]:
        # binary results: a backtest reads a million heartbeats a day, and parsing them from
        # text took twice as long
        return self.conn.execute(query, params, binary=True).fetchall()

    def evaluate(self, rule, at: datetime, origin: datetime) -> list[Observation]:
        """Observations of `rule` at event time `at` (`origin`: when evaluation began).

        `RuleEvaluationError` when the stored data cannot give this rule a value (a query
        the database refuses, a value that is not finite): the caller sets the rule aside
        and goes on with the others. A lost connection is not the rule's fault and passes.
        """
        return self.evaluate_many(rule, [at], origin)[0]

    def evaluate_many(self, rule, ats: list[datetime], origin: datetime,
                      watched: Callable[[dict[str, str]], bool] | None = None
                      ) -> list[list[Observation]]:
        """`evaluate` at each of the steps `ats` (ascending), reading the stored rows once
        for all of them (what makes catch-up and backtests fast): each step's answer is
        the one `evaluate` gives it alone, except that an entity that is well (`is_well`)
        with the same observation as at the previous step of `ats` may be left out: the
        lifecycle counts an entity it is not told about as well and keeps its last value,
        so the alerts are the same. With `watched` (labels -> has this entity an alert:
        the engine's lifecycle), the well observations of an entity with no alert are
        given once per stretch of them even as their value changes (see `per_step`): the
        lifecycle ignores a well entity that has no alert."""
        check_ascending(ats)
        try:
            if isinstance(rule, PipelineRule):  # wall time: one step at a time
                per_step = [self._pipeline(rule, at, origin) for at in ats]
            elif isinstance(rule, WatchdogRule):
                per_step = [self._watchdog(rule, at, origin) for at in ats]
            else:
                has_alert = None if watched is None else (
                    lambda o: watched({**rule.labels, **o.labels}))
                method = {ThresholdRule: partial(self._threshold, watched=has_alert),
                          BaselineRule: self._baseline, AbsenceRule: self._absence,
                          LinkQualityRule: partial(self._link_quality, watched=has_alert),
                          StalenessRule: self._staleness}[type(rule)]
                per_step = method(rule, ats, origin)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise RuleEvaluationError(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        if not rule.labels:
            return per_step
        return [[Observation({**rule.labels, **o.labels}, o.value, o.breach, o.clear,
                             o.threshold) for o in observations] for observations in per_step]

    def _span(self, query: str, ats: list[datetime], seconds: float) -> list[tuple]:
        """The rows of `query` for the windows of `seconds` ending at each step of `ats`:
        its two parameters bound (first step - seconds, last step]."""
        return self._rows(query, (ats[0] - timedelta(seconds=seconds), ats[-1]))

    @staticmethod
    def _slide(rows: Iterable[tuple[str, int, int, int]], ats: list[datetime],
               seconds: float) -> dict[str, list[tuple[int, int, int, int]]]:
        """`sliding` over rows timed in microseconds (`OCCURRED_US`)."""
        return sliding(rows, [micros(at) for at in ats], timedelta(seconds=seconds) // ONE_US)

    def _steps(self, inner: str, ats: list[datetime], params: tuple = ()) -> list[list[tuple]]:
        """The rows of `inner` (a query on the step `s.at`) for each step of `ats`, in order;
        `inner` orders its own rows."""
        out: list[list[tuple]] = [[] for _ in ats]
        for n, *row in self.conn.execute(
                "SELECT s.n, q.* FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS s(at, n)"
                f" CROSS JOIN LATERAL ({inner}) AS q ORDER BY s.n", (ats, *params)).fetchall():
            out[n - 1].append(tuple(row))
        return out

    def _threshold(self, rule: ThresholdRule, ats: list[datetime], origin: datetime,
                   watched: Callable[[Observation], bool] | None = None
                   ) -> list[list[Observation]]:
        m = rule.measure
        if m not in ("dossier_on_time_ratio", "dossier_overdue_open"):
            return self._windowed(rule, ats, watched)
        if m == "dossier_on_time_ratio":  # every minute: one query over the batch's steps
            steps = self._steps(
                "SELECT agency_code AS k, count(*) AS n,"
                "       avg((occurred_at <= due_at)::int)::float AS v"
                "  FROM dossier_events WHERE event_type = 'resolved'"
                "   AND occurred_at > s.at - make_interval(secs => %s) AND occurred_at <= s.at"
                " GROUP BY agency_code ORDER BY agency_code", ats,
                (float(rule.window_seconds),))
        else:
            steps = self._overdue_open(rule, ats)
        verdict, least = judge(rule, self.province), rule.min_count
        return [[verdict({"agency": code, "agency_name": self.agencies.get(code, code)},
                         value if count >= least else None)
                 for code, count, value in rows] for rows in steps]

    def _overdue_open(self, rule: ThresholdRule, ats: list[datetime]) -> list[list[tuple]]:
        """Per step, per agency: dossiers received within the window before it, overdue at
        it and not resolved by it. Each such dossier counts over one stretch of time (from
        when it is both received and overdue until it is resolved or leaves the window), so
        the batch reads the dossiers overdue and open somewhere in it once, with their first
        resolution, instead of the window's 30 days of dossiers at every step."""
        width = timedelta(seconds=rule.window_seconds)
        first, last = ats[0], ats[-1]
        counts: dict[str, list[int]] = {}
        for agency, received, due, resolved in self._rows(
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
                per_step = counts.setdefault(agency, [0] * (len(ats) + 1))
                per_step[begin] += 1
                per_step[end] -= 1
        steps: list[list[tuple]] = [[] for _ in ats]
        for agency in sorted(counts):
            open_now = 0
            for step, change in enumerate(counts[agency][:-1]):
                open_now += change
                if open_now:
                    steps[step].append((agency, open_now, float(open_now)))
        return steps

    def _windowed(self, rule: ThresholdRule, ats: list[datetime],
                  watched: Callable[[Observation], bool] | None) -> list[list[Observation]]:
        """A threshold rule over a sliding window of portal health or payments."""
        m, seconds = rule.measure, rule.window_seconds
        if m in ("portal_error_ratio", "portal_latency_p95_ms"):
            column = "p95_latency_ms" if m == "portal_latency_p95_ms" else "errors"
            rows = self._span(f"SELECT portal_code, {OCCURRED_US}, requests, {column}"
                              " FROM portal_health WHERE occurred_at > %s AND occurred_at <= %s",
                              ats, seconds)
            if m == "portal_error_ratio":  # count: requests
                runs = self._slide(rows, ats, seconds)

                def count_value(asked: int, failed: int) -> tuple[int, float | None]:
                    return asked, failed / asked if asked else None
            else:  # count: health reports
                runs = self._slide(((k, t, 1, exact(v)) for k, t, _, v in rows), ats,
                                   seconds)

                def count_value(n: int, total: int) -> tuple[int, float | None]:
                    return n, mean(total, n)

            def labels_of(code: str) -> dict[str, str]:
                return {"portal": code, "portal_name": self.portals.get(code, code)}
        else:  # payment_success_ratio; count: payments
            rows = self._span(f"SELECT category, {OCCURRED_US}, status = 'succeeded'"
                              " FROM payments WHERE occurred_at > %s AND occurred_at <= %s",
                              ats, seconds)
            runs = self._slide(((k, t, 1, int(ok)) for k, t, ok in rows), ats, seconds)

            def count_value(n: int, ok: int) -> tuple[int, float | None]:
                return n, ok / n

            def labels_of(code: str) -> dict[str, str]:
                return {"category": code}
        verdict, least = judge(rule, self.province), rule.min_count

        def judged(code: str, x: int, y: int) -> Observation:
            count, value = count_value(x, y)
            return verdict(labels_of(code), value if count >= least else None)
        return per_step(runs, len(ats), judged, is_well, watched)

    def _baseline(self, rule: BaselineRule, ats: list[datetime], origin: datetime
                  ) -> list[list[Observation]]:
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
        steps = self._steps(f"SELECT {counts}", ats,
                            tuple(x for span in spans for x in span))
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

    def _absence(self, rule: AbsenceRule, ats: list[datetime], origin: datetime
                 ) -> list[list[Observation]]:
        """Per step, each expected link's silence (seconds since its newest heartbeat, or
        since evaluation began). A link silent for no longer than the clear bound is well and
        its observation carries no value (its alert keeps the silence it last reported, the
        one worth reading on a resolved alert): the same at every step, so a batch says it
        once per stretch (`evaluate_many`), where the silence of 27 links at every step made
        this rule a quarter of a backtest's time."""
        # in whole microseconds, as datetimes count (27 links x 600 steps a batch)
        steps_us = [micros(at) for at in ats]
        first_us, origin_us = steps_us[0], micros(origin)
        lookback_us = timedelta(seconds=rule.lookback_seconds) // ONE_US
        # each expected link's heartbeats within the batch and its newest one before, from
        # the batch's read of the heartbeats (which reaches back over the link rules' windows)
        times: dict[str, list[int]] = {link: [] for link in self.links}
        for link_id, at_us, *_ in self._heartbeats(ats, 0):
            if link_id in times and at_us > first_us - lookback_us:
                times[link_id].append(at_us)
        unheard = []  # heard of nowhere in that read before the batch: asked of the database
        for link_id, heard in times.items():
            heard.sort()
            before = bisect_right(heard, first_us)
            if before:
                del heard[:before - 1]
            else:
                unheard.append(link_id)
        if unheard:  # found by the (link_id, occurred_at) index: the lookback is a day
            for link_id, at_us in self._rows(
                    f"SELECT l.link_id, (SELECT {OCCURRED_US} FROM link_heartbeats h"
                    "   WHERE h.link_id = l.link_id AND h.occurred_at <= %s"
                    "   AND h.occurred_at > %s ORDER BY h.occurred_at DESC LIMIT 1)"
                    " FROM unnest(%s::text[]) AS l(link_id)",
                    (ats[0], ats[0] - timedelta(seconds=rule.lookback_seconds), unheard)):
                if at_us is not None:
                    times[link_id].insert(0, at_us)
        silent_at, clear = rule.silent_seconds, (
            rule.clear_seconds if rule.clear_seconds is not None else rule.silent_seconds)
        out: list[list[Observation]] = [[] for _ in ats]
        for link_id, labels in self.links.items():  # only the links the province expects
            well = Observation(labels, None, False, True, silent_at)
            was_well = False
            heard = times[link_id]
            # each heartbeat is the newest heard from the first step at or after it until the
            # next one's (one heard more than the lookback ago counts as none); over such a
            # stretch the silence grows with the step
            bounds = [0, *(bisect_left(steps_us, h) for h in heard), len(ats)]
            for k, last in enumerate([None, *heard]):
                begin, end = bounds[k], bounds[k + 1]
                if begin == end:
                    continue
                if last is not None and steps_us[end - 1] < last + lookback_us and (
                        steps_us[end - 1] - max(last, origin_us)) / 1_000_000 <= clear:
                    # the usual stretch: heard again before it grew past the clear bound
                    if not was_well:
                        out[begin].append(well)
                        was_well = True
                    continue
                stale = begin if last is None else bisect_left(
                    steps_us, last + lookback_us, begin, end)
                for lo, hi, seen in ((begin, stale, max(last or 0, origin_us)),
                                     (stale, end, origin_us)):
                    if lo >= hi:
                        continue
                    loud = bisect_right(steps_us, clear, lo, hi,
                                        key=lambda at_us, seen=seen: (at_us - seen) / 1_000_000)
                    if lo < loud and not was_well:  # well from lo: said once, with no value
                        out[lo].append(well)
                    was_well = was_well or lo < loud
                    for step in range(loud, hi):
                        silent = (steps_us[step] - seen) / 1_000_000
                        out[step].append(Observation(labels, silent, silent > silent_at,
                                                     False, silent_at))
                        was_well = False
        return out

    def _heartbeats(self, ats: list[datetime], seconds: float) -> list[tuple]:
        """(link, time in µs, latency, loss, down) of the heartbeats in the windows of
        `seconds` ending at the steps `ats`, read once for the batch's link rules: the read
        spans the widest window asked so far, rows older than a window leave it at once."""
        self._widest = widest = max(seconds, self._widest)
        held = self._heartbeats_read
        if (held is not None and held[1] == ats[-1]
                and held[0] <= ats[0] - timedelta(seconds=seconds)):
            return held[2]
        rows = self._span(f"SELECT link_id, {OCCURRED_US}, latency_ms, loss_pct,"
                          " status = 'down' FROM link_heartbeats"
                          " WHERE occurred_at > %s AND occurred_at <= %s", ats, widest)
        if self._batching:
            self._heartbeats_read = (ats[0] - timedelta(seconds=widest), ats[-1], rows)
        return rows

    def _link_quality(self, rule: LinkQualityRule, ats: list[datetime], origin: datetime,
                      watched: Callable[[Observation], bool] | None = None
                      ) -> list[list[Observation]]:
        rows = self._heartbeats(ats, rule.window_seconds)
        verdict, least = judge(rule, self.province), rule.min_count
        if rule.measure == "down_ratio":  # count: heartbeats; value: the share reporting down
            runs = self._slide(((k, t, 1, int(down)) for k, t, _, _, down in rows), ats,
                               rule.window_seconds)

            def judged(link_id: str, n: int, down: int) -> Observation:
                return verdict(self.links.get(link_id, {"link_id": link_id}),
                               down / n if n >= least else None)
        else:  # count: heartbeats that measured it; value: their mean
            column = 2 if rule.measure == "latency_ms" else 3
            runs = self._slide(((r[0], r[1], 0, 0) if r[column] is None
                                else (r[0], r[1], 1, exact(r[column])) for r in rows), ats,
                               rule.window_seconds)

            def judged(link_id: str, n: int, total: int) -> Observation:
                return verdict(self.links.get(link_id, {"link_id": link_id}),
                               mean(total, n) if n >= least else None)
        return per_step(runs, len(ats), judged, is_well, watched)

    def _staleness(self, rule: StalenessRule, ats: list[datetime], origin: datetime
                   ) -> list[list[Observation]]:
        """Per step, the feed's silence (seconds since its newest event, or since evaluation
        began). Well (silent no longer than the rule allows) or not watched (outside working
        hours when so asked), its observation carries no value and a batch says it once per
        stretch, as the absence rule does."""
        labels = {"feed": rule.feed, "source": rule.source}
        quiet = Observation(labels, None, False, True, rule.silent_seconds)
        steps_us = [micros(at) for at in ats]
        # the steps it watches (working hours only: both ends of the silence within the
        # working hours of one day), the day's hours looked up once per day
        watched = [True] * len(ats)
        if rule.working_hours_only:
            silent_us = timedelta(seconds=rule.silent_seconds) // ONE_US
            tz, next_day_us, opens_us, closes_us = self.calendar.tz, -1, 0, 0
            for i, (at, at_us) in enumerate(zip(ats, steps_us, strict=True)):
                if at_us >= next_day_us:
                    day = at.astimezone(tz).date()
                    next_day_us = micros(datetime.combine(day + timedelta(days=1), time(), tz))
                    hours = self.calendar.working_hours(day)
                    opens_us, closes_us = (micros(hours[0]), micros(hours[1])) if hours else (0, 0)
                watched[i] = opens_us <= at_us - silent_us and at_us < closes_us
        asked = [at for at, w in zip(ats, watched, strict=True) if w]
        last = iter(self._newest_events(SOURCES[rule.source], asked) if asked else [])
        origin_us = micros(origin)
        out: list[list[Observation]] = []
        was_quiet = False
        for at_us, w in zip(steps_us, watched, strict=True):
            silent = None
            if w:
                silent = (at_us - max(next(last) or origin_us, origin_us)) / 1_000_000
            if silent is None or silent <= rule.silent_seconds:
                out.append([] if was_quiet else [quiet])
                was_quiet = True
            else:
                out.append([Observation(labels, silent, True, False, rule.silent_seconds)])
                was_quiet = False
        return out

    def _newest_events(self, table: str, ats: list[datetime]) -> list[int | None]:
        """Per step: the newest event of `table` at or before it, within a day, in µs (the
        heartbeats from the batch's shared read)."""
        day = 86400.0
        times = [t for (t,) in self._rows(
            f"SELECT {OCCURRED_US} FROM {table}"  # noqa: S608 - fixed names
            " WHERE occurred_at <= %s AND occurred_at > %s ORDER BY occurred_at DESC LIMIT 1",
            (ats[0], ats[0] - timedelta(seconds=day)))]
        steps_us = [micros(at) for at in ats]
        if table == "link_heartbeats":
            times += sorted(t for _, t, *_ in self._heartbeats(ats, 0) if t > steps_us[0])
        else:
            times += [t for (t,) in self._rows(
                f"SELECT {OCCURRED_US} FROM {table}"  # noqa: S608 - fixed names
                " WHERE occurred_at > %s AND occurred_at <= %s ORDER BY occurred_at",
                (ats[0], ats[-1]))]
        return newest(times, steps_us, timedelta(seconds=day) // ONE_US)

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
        elif rule.measure == "replicas_out_of_sync":  # one alert per broker
            behind = self.brokers() if self.brokers else None
            return [compare(rule, self.province, {"broker": str(broker)}, float(count))
                    for broker, count in sorted((behind or {}).items())]
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
