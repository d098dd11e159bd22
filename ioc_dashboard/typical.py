"""What a normal day holds at this time. For the payments page's bands: per payment category,
payments per minute over the last hour in bins of a few minutes, against what the same
minutes held on the same weekday of the weeks before (from the `payments_1m` aggregate), or,
until such history is stored, what the rhythm model expects (the province's calibrated
volumes spread by ioc/rhythms.yaml over the hours, the month and off days).

A band is its centre (the weeks' mean, or the model's rate) widened by two standard
deviations of a Poisson count over the bin, and so that every week's value lies within it:
a leader reads "inside the band" as "a normal day", whichever source it came from.

For the dossiers (the portal page's tiles, the overview's usual shares): the same weekday's
hours of the weeks before (`dossiers_1h`), or the model's day until such history is stored.
For the consultations running (the telemedicine page): the same weekday at this time of day,
or the model's clinic hours and consultation lengths; for the links up, the same minute of the
same weekday, or every link.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ioc.calendar import WorkCalendar
from ioc.province import Province
from ioc.rhythms import Rhythms, payment_mix
from ioc_dashboard.data import DossierWeekHour, PaymentWeekMinute, Snapshot, telemedicine_at

BIN_MINUTES = 5


@dataclass(frozen=True)
class Series:
    """One category's payments per minute, bin by bin, and its typical band."""

    category: str
    now: tuple[float | None, ...]  # None: no minute of the bin is complete yet
    low: tuple[float, ...]
    high: tuple[float, ...]
    centre: tuple[float, ...]  # the usual rate: the weeks' mean, or the model's


@dataclass(frozen=True)
class Typical:
    """The last hour's bins (their starts), each category's series, and where the band
    came from: `weeks` of stored history, or the rhythm model (`weeks` 0)."""

    bins: tuple[datetime, ...]
    series: tuple[Series, ...]
    source: Literal["history", "model"]
    weeks: int
    # the share of payments that succeeded in those minutes of the weeks before, or the
    # province's calibrated share (the payments page's success tile)
    success_ratio: float | None = None

    def newest_bin(self) -> int | None:
        """The newest bin with a complete minute (the same for every series), if any."""
        known = [b for b, v in enumerate(self.series[0].now) if v is not None] \
            if self.series else []
        return known[-1] if known else None

    def usual_per_minute(self) -> float | None:
        """All categories' usual payments per minute in the newest bin (the overview's
        payments tile)."""
        b = self.newest_bin()
        return None if b is None else sum(s.centre[b] for s in self.series)


def bins_before(newest: datetime, minutes: int = 60, width: int = BIN_MINUTES
                ) -> tuple[datetime, ...]:
    """Starts of the bins of `width` minutes that cover the `minutes` before `newest`'s
    minute, the last one holding it (aligned on the hour, so a refresh moves in whole bins)."""
    minute = newest.replace(second=0, microsecond=0)
    last = minute - timedelta(minutes=minute.minute % width)
    count = minutes // width
    return tuple(last - timedelta(minutes=width * (count - 1 - n)) for n in range(count))


def _binned(counts: Iterable[tuple[datetime, str, int]], bins: tuple[datetime, ...],
            width: int) -> dict[str, list[int]]:
    """category -> payments per bin (minutes outside every bin are dropped)."""
    first, span = bins[0], timedelta(minutes=width)
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(bins))
    for bucket, category, n in counts:
        k = int((bucket - first) / span) if bucket >= first else -1
        if 0 <= k < len(bins):
            out[category][k] += n
    return out


def _band(centre: float, others: Iterable[float], minutes: int) -> tuple[float, float]:
    """(low, high) per minute around `centre` (per minute): two Poisson standard deviations
    of a count over `minutes`, stretched over every value in `others`."""
    spread = 2 * math.sqrt(max(centre, 0.0) * minutes) / minutes
    values = [centre - spread, centre + spread, *others]
    return max(0.0, min(values)), max(values)


def typical(now_counts: Iterable[tuple[datetime, str, int]],
            weeks_counts: Iterable[PaymentWeekMinute], newest: datetime,
            province: Province, rhythms: Rhythms, calendar: WorkCalendar,
            width: int = BIN_MINUTES) -> Typical:
    """The payments page's series. `now_counts`: (minute, category, payments) of the last
    hour; `weeks_counts`: the same hour on earlier weeks, moved forward to this one;
    `newest`: the newest payment's time."""
    bins = bins_before(newest, width=width)
    current = newest.replace(second=0, microsecond=0)  # still filling: left out
    now = _binned(((b, c, n) for b, c, n in now_counts if b < current), bins, width)
    by_week: dict[int, list[tuple[datetime, str, int]]] = defaultdict(list)
    succeeded: dict[int, int] = defaultdict(int)
    for k, bucket, category, ok, failed in weeks_counts:
        if bins[0] <= bucket < current:  # the same minutes as this hour's
            by_week[k].append((bucket, category, ok + failed))
            succeeded[k] += ok
    # a week with no payment at all in that hour: the system was not running then
    weeks = {k: _binned(rows, bins, width) for k, rows in sorted(by_week.items())
             if any(n for _, _, n in rows)}
    paid = sum(n for k in weeks for _, _, n in by_week[k])
    success = (sum(succeeded[k] for k in weeks) / paid if weeks
               else province.simulation.payment_success_ratio)
    mix = payment_mix(province)
    categories = list(mix) + sorted(set(now) - set(mix))
    # complete minutes per bin (the last one may have fewer, or none yet)
    complete = [min(width, max(0, int((current - start) / timedelta(minutes=1))))
                for start in bins]
    series = []
    for category in categories:
        low, high, centres = [], [], []
        for b, start in enumerate(bins):
            if weeks:
                values = [w[category][b] / max(1, complete[b]) if category in w else 0.0
                          for w in weeks.values()]
                centre = sum(values) / len(values)
            else:
                values = []
                centre = _model_rate(province, rhythms, calendar, mix.get(category, 0.0),
                                     category, start)
            lo, hi = _band(centre, values, max(1, complete[b]))
            low.append(round(lo, 3))
            high.append(round(hi, 3))
            centres.append(round(centre, 3))
        counted = now.get(category, [0] * len(bins))
        rates = tuple(round(n / minutes, 3) if minutes else None
                      for n, minutes in zip(counted, complete, strict=True))
        series.append(Series(category, rates, tuple(low), tuple(high), tuple(centres)))
    return Typical(bins, tuple(series), "history" if weeks else "model", len(weeks), success)


def _model_rate(province: Province, rhythms: Rhythms, calendar: WorkCalendar, share: float,
                category: str, at: datetime) -> float:
    """Payments per minute of `category` the rhythm model expects in `at`'s local hour."""
    local = at.astimezone(calendar.tz)
    day = local.date()
    hourly = rhythms.payments_in_hour(province.simulation.payments_per_day * share, category,
                                      day, local.hour)
    if not calendar.is_working_day(day):
        hourly *= rhythms.off_day_payments(category, day in calendar.holidays)
    return hourly / 60


@dataclass(frozen=True)
class UsualDossiers:
    """Today so far on a usual day: the on-time share of the dossiers resolved and the online
    share of those received, from the same part of the same weekday of earlier `weeks`, or
    the province's calibrated shares (`weeks` 0) until such history is stored."""

    on_time_ratio: float | None
    online_ratio: float | None
    source: Literal["history", "model"]
    weeks: int


def usual_dossiers(weeks: Iterable[DossierWeekHour], until: datetime | None,
                   province: Province) -> UsualDossiers:
    """From the hours of earlier weeks (moved forward to this one) before `until`, the
    newest dossier's time; a week with neither a dossier received nor one resolved by then
    had no system running."""
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for w in weeks:
        if until is not None and w.bucket < until:
            for i, n in enumerate(w[2:]):
                sums[w.weeks][i] += n or 0
    kept = [s for s in sums.values() if s[0] + s[2] > 0]
    if not kept:
        sim = province.simulation
        return UsualDossiers(sim.on_time_share, sim.online_share, "model", 0)
    received, online, resolved, on_time = (sum(s[i] for s in kept) for i in range(4))
    return UsualDossiers(on_time / resolved if resolved else None,
                         online / received if received else None, "history", len(kept))


@dataclass(frozen=True)
class UsualCount:
    """A count a usual day shows at this time: the mean of the same weekday's in earlier
    `weeks`, or the rhythm model's (`weeks` 0) until such history is stored."""

    value: float
    source: Literal["history", "model"]
    weeks: int


def usual_links(snap: Snapshot, province: Province) -> UsualCount | None:
    """Links up in the same minute of the same weekday (the newest complete minute of
    heartbeats), over the earlier weeks that heard from any link then; or, until such history
    is stored, the model's: every link up. None before any heartbeat is stored."""
    if snap.newest.get("link_heartbeats") is None:
        return None
    kept = [w.up for w in snap.links_weeks if w.heard]
    if kept:
        return UsualCount(sum(kept) / len(kept), "history", len(kept))
    return UsualCount(float(len(province.hospitals)), "model", 0)


def usual_consultations(snap: Snapshot, province: Province, rhythms: Rhythms,
                        calendar: WorkCalendar) -> UsualCount | None:
    """Consultations running on a usual day at the time of day of the telemedicine feed's
    newest event; a week with no consultation that whole day had no clinic or no system
    running, and is not counted. None before any telemedicine event is stored."""
    at = telemedicine_at(snap.newest)
    if at is None:
        return None
    weeks = snap.consultations_weeks
    kept = [max(0, w.running) for w in weeks if w.events]
    if kept:
        return UsualCount(sum(kept) / len(kept), "history", len(kept))
    local = at.astimezone(calendar.tz)
    per_day = province.simulation.consultations_per_hospital_per_day * len(province.hospitals)
    return UsualCount(rhythms.consultations_running(
        per_day, local, calendar.is_working_day(local.date())), "model", 0)


@dataclass(frozen=True)
class DossierDay:
    """Today's dossiers hour by hour (local hours from midnight), received and resolved,
    against a usual day: the mean of the same weekday's hours in earlier `weeks`, or the
    rhythm model (`weeks` 0) until such history is stored."""

    hours: tuple[datetime, ...]  # the day's hour starts
    received: tuple[int | None, ...]  # None: an hour still to come
    resolved: tuple[int | None, ...]
    usual_received: tuple[float, ...]
    usual_resolved: tuple[float, ...]
    source: Literal["history", "model"]
    weeks: int
    newest: datetime

    def usual_so_far(self, usual: tuple[float, ...]) -> float:
        """A usual day's count from midnight to the newest dossier's time (its hour pro rata)."""
        total = 0.0
        for start, n in zip(self.hours, usual, strict=True):
            part = (self.newest - start) / timedelta(hours=1)
            total += n * min(1.0, max(0.0, part))
        return total


def dossier_day(snap: Snapshot, province: Province, rhythms: Rhythms,
                calendar: WorkCalendar) -> DossierDay | None:
    """`DossierDay` of a wall snapshot (None before any dossier is stored)."""
    day, newest = snap.dossiers_day_start, snap.newest.get("dossier_events")
    if day is None or newest is None:
        return None
    hours = tuple(day + timedelta(hours=h) for h in range(24))
    today = {h.bucket: h for h in snap.dossiers_hourly if h.bucket >= day}

    def counted(field: str) -> tuple[int | None, ...]:
        return tuple(getattr(today[b], field) if b in today else 0 if b <= newest else None
                     for b in hours)

    by_week: dict[int, dict[datetime, tuple[int, int]]] = defaultdict(dict)
    for w in snap.dossiers_weeks:
        by_week[w.weeks][w.bucket] = (w.received or 0, w.resolved or 0)
    # a week with no dossier that whole day: the system was not running then
    weeks = [w for w in by_week.values() if any(a + b for a, b in w.values())]
    if weeks:
        usual = [tuple(round(sum(w.get(b, (0, 0))[i] for w in weeks) / len(weeks), 1)
                       for b in hours) for i in (0, 1)]
    else:
        usual = list(_model_day(hours, province, rhythms, calendar))
    return DossierDay(hours, counted("received"), counted("resolved"), usual[0], usual[1],
                      "history" if weeks else "model", len(weeks), newest)


def _model_day(hours: tuple[datetime, ...], province: Province, rhythms: Rhythms,
               calendar: WorkCalendar) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Dossiers the rhythm model expects per hour: received by the hour weights; resolved
    evenly over working time, as the simulator processes them (in a steady state a working
    day resolves about a working day's intake)."""
    sim = province.simulation
    received, working = [], []
    for start in hours:
        local = start.astimezone(calendar.tz)
        working_day = calendar.is_working_day(local.date())
        received.append(round(sum(rhythms.dossiers_in_hour(
            sim.dossiers_per_working_day, sim.online_share, local.hour, working_day)), 1))
        working.append(calendar.working_seconds_between(start, start + timedelta(hours=1)))
    total = sum(working)
    resolved = [round(sim.dossiers_per_working_day * w / total, 1) if total else 0.0
                for w in working]
    return tuple(received), tuple(resolved)


def payments_typical(snap: Snapshot, province: Province, rhythms: Rhythms,
                     calendar: WorkCalendar) -> Typical | None:
    """`typical` of a wall snapshot (None before any payment is stored)."""
    newest = snap.newest.get("payments")
    if newest is None:
        return None
    return typical(((p.bucket, p.category, p.succeeded + p.failed) for p in snap.payments),
                   snap.payments_weeks, newest, province, rhythms, calendar)
