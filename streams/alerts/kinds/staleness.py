"""Staleness rules: a feed's silence (seconds since its newest event) against a limit,
optionally only within working hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from streams.alerts.lifecycle import Observation
from streams.alerts.reads import SOURCES, StoredReads
from streams.alerts.rules import StalenessRule
from streams.alerts.windows import ONE_US, micros

RULE = StalenessRule


def observe(reads: StoredReads, rule: StalenessRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    """Per step, the feed's silence (seconds since its newest event, or since evaluation
    began). Well (silent no longer than the rule allows) or not watched (outside working
    hours when so asked), its observation carries no value and a batch says it once per
    stretch, as the absence rule does."""
    labels = {"feed": rule.feed, "source": rule.source}
    quiet = Observation(labels, None, False, True, rule.silent_seconds)
    steps_us = [micros(at) for at in ats]
    # the steps it watches (working hours only: both ends of the silence within the
    # working hours of one day), the day's hours looked up once per day
    looked = [True] * len(ats)
    if rule.working_hours_only:
        silent_us = timedelta(seconds=rule.silent_seconds) // ONE_US
        tz, next_day_us, opens_us, closes_us = reads.calendar.tz, -1, 0, 0
        for i, (at, at_us) in enumerate(zip(ats, steps_us, strict=True)):
            if at_us >= next_day_us:
                day = at.astimezone(tz).date()
                next_day_us = micros(datetime.combine(day + timedelta(days=1), time(), tz))
                hours = reads.calendar.working_hours(day)
                opens_us, closes_us = (micros(hours[0]), micros(hours[1])) if hours else (0, 0)
            looked[i] = opens_us <= at_us - silent_us and at_us < closes_us
    asked = [at for at, w in zip(ats, looked, strict=True) if w]
    last = iter(reads.newest_events(SOURCES[rule.source], asked) if asked else [])
    origin_us = micros(origin)
    out: list[list[Observation]] = []
    was_quiet = False
    for at_us, w in zip(steps_us, looked, strict=True):
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
