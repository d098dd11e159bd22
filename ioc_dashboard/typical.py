"""What a normal day holds at this time, for the payments page's bands: per payment category,
payments per minute over the last hour in bins of a few minutes, against what the same
minutes held on the same weekday of the weeks before (from the `payments_1m` aggregate), or,
until such history is stored, what the rhythm model expects (the province's calibrated
volumes spread by ioc/rhythms.yaml over the hours, the month and off days).

A band is its centre (the weeks' mean, or the model's rate) widened by two standard
deviations of a Poisson count over the bin, and so that every week's value lies within it:
a leader reads "inside the band" as "a normal day", whichever source it came from.
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
from ioc_dashboard.data import Snapshot

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
            weeks_counts: Iterable[tuple[int, datetime, str, int]], newest: datetime,
            province: Province, rhythms: Rhythms, calendar: WorkCalendar,
            width: int = BIN_MINUTES) -> Typical:
    """The payments page's series. `now_counts`: (minute, category, payments) of the last
    hour; `weeks_counts`: (weeks back, minute moved forward by those weeks, category,
    payments) of the same hour on earlier weeks; `newest`: the newest payment's time."""
    bins = bins_before(newest, width=width)
    current = newest.replace(second=0, microsecond=0)  # still filling: left out
    now = _binned(((b, c, n) for b, c, n in now_counts if b < current), bins, width)
    by_week: dict[int, list[tuple[datetime, str, int]]] = defaultdict(list)
    for k, bucket, category, n in weeks_counts:
        if bucket < current:  # the same minutes as this hour's
            by_week[k].append((bucket, category, n))
    # a week with no payment at all in that hour: the system was not running then
    weeks = {k: _binned(rows, bins, width) for k, rows in sorted(by_week.items())
             if any(n for _, _, n in rows)}
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
    return Typical(bins, tuple(series), "history" if weeks else "model", len(weeks))


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


def usual_dossiers(weeks: Iterable[tuple[int, int, int, int, int]],
                   province: Province) -> UsualDossiers:
    """From (weeks back, received, received online, resolved, resolved on time) rows; a week
    with neither a dossier received nor one resolved had no system running."""
    kept = [w for w in weeks if (w[1] or 0) + (w[3] or 0) > 0]
    if not kept:
        sim = province.simulation
        return UsualDossiers(sim.on_time_share, sim.online_share, "model", 0)
    received, online, resolved, on_time = (sum(w[i] or 0 for w in kept) for i in range(1, 5))
    return UsualDossiers(on_time / resolved if resolved else None,
                         online / received if received else None, "history", len(kept))


def payments_typical(snap: Snapshot, province: Province, rhythms: Rhythms,
                     calendar: WorkCalendar) -> Typical | None:
    """`typical` of a wall snapshot (None before any payment is stored)."""
    newest = snap.newest.get("payments")
    if newest is None:
        return None
    return typical(((p.bucket, p.category, p.succeeded + p.failed) for p in snap.payments),
                   snap.payments_weeks, newest, province, rhythms, calendar)
