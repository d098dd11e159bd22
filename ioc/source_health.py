"""Each source's health, counted minute by minute of arrival (table `source_minutes`,
migration 047): what the worker stored and dead-lettered per source, what the intake refused
at its door, and how late the events arrived. Both write through `SourceTally` and `record`,
so the two agree on what a minute holds."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

UNNAMED = "kafka"  # a Kafka producer that names no source
KEPT_DAYS = 35  # four weeks of usual hours, and a week of room
SOURCE_HEADER = "ioc-source"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def source_of(headers: object) -> str:
    """The source a Kafka record's headers name (`ioc-source`), `kafka` when none does (or
    names one that is not a source name)."""
    for key, value in headers or ():  # type: ignore[attr-defined]
        if key == SOURCE_HEADER and value:
            name = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            return name if _NAME.match(name) else UNNAMED
    return UNNAMED


@dataclass
class _Minute:
    events: int = 0
    refused: int = 0
    reasons: Counter = field(default_factory=Counter)
    delay_sum: float = 0.0
    delay_max: float = 0.0
    last: datetime | None = None


class SourceTally:
    """What one batch adds to each (source, feed, minute)."""

    def __init__(self) -> None:
        self.minutes: dict[tuple[str, str, datetime], _Minute] = {}

    def _minute(self, source: str, feed: str, arrived: datetime) -> _Minute:
        key = (source, feed, arrived.replace(second=0, microsecond=0))
        found = self.minutes.get(key)
        if found is None:
            found = self.minutes[key] = _Minute()
        if found.last is None or arrived > found.last:
            found.last = arrived
        return found

    def stored(self, source: str, feed: str, arrived: datetime, occurred: datetime) -> None:
        m = self._minute(source, feed, arrived)
        m.events += 1
        delay = max(0.0, (arrived - occurred).total_seconds() * 1000)
        m.delay_sum += delay
        m.delay_max = max(m.delay_max, delay)

    def refused(self, source: str, feed: str, arrived: datetime, reason: str) -> None:
        m = self._minute(source, feed, arrived)
        m.refused += 1
        m.reasons[reason] += 1

    def __bool__(self) -> bool:
        return bool(self.minutes)


UPSERT = """
INSERT INTO source_minutes AS s (source, feed, minute, events, refused, reasons, delay_ms_sum,
                                 delay_ms_max, last_arrival)
SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::bigint[], %s::bigint[],
                     %s::jsonb[], %s::float8[], %s::float8[], %s::timestamptz[])
ON CONFLICT (source, feed, minute) DO UPDATE SET
    events = s.events + excluded.events,
    refused = s.refused + excluded.refused,
    reasons = s.reasons || coalesce((
        SELECT jsonb_object_agg(k, coalesce((s.reasons ->> k)::bigint, 0) + v::bigint)
          FROM jsonb_each_text(excluded.reasons) AS r(k, v)), '{}'),
    delay_ms_sum = s.delay_ms_sum + excluded.delay_ms_sum,
    delay_ms_max = greatest(s.delay_ms_max, excluded.delay_ms_max),
    last_arrival = greatest(s.last_arrival, excluded.last_arrival)
"""


def parameters(tally: SourceTally) -> list[list]:
    # sorted: concurrent writers lock the same rows in the same order (no deadlock)
    rows = sorted(tally.minutes.items())
    return [[k[0] for k, _ in rows], [k[1] for k, _ in rows], [k[2] for k, _ in rows],
            [m.events for _, m in rows], [m.refused for _, m in rows],
            [Jsonb(dict(m.reasons)) for _, m in rows], [m.delay_sum for _, m in rows],
            [m.delay_max for _, m in rows], [m.last for _, m in rows]]


async def record(conn: psycopg.AsyncConnection, tally: SourceTally) -> None:
    """Add `tally` to `source_minutes` (inside the caller's transaction, if any)."""
    if tally:
        await conn.execute(UPSERT, parameters(tally))


async def prune(conn: psycopg.AsyncConnection, before: datetime) -> int:
    """Forget the minutes before `before` (the intake does, every hour); how many."""
    cur = await conn.execute("DELETE FROM source_minutes WHERE minute < %s", (before,))
    return cur.rowcount


# --- reading it back: each source's last hour beside its usual hour ------------------------

SEEN_DAYS = 7  # a source not seen for longer is listed without a last arrival

HEALTH_QUERY = """
WITH hour AS (
    SELECT source, sum(events)::bigint AS events, sum(refused)::bigint AS refused,
           sum(delay_ms_sum) AS delay_sum, max(delay_ms_max) AS delay_max
      FROM source_minutes WHERE minute >= %(now)s - interval '60 minutes'
     GROUP BY source),
why AS (
    SELECT source, jsonb_object_agg(reason, n) AS reasons FROM (
        SELECT source, r.key AS reason, sum(r.value::bigint) AS n
          FROM source_minutes, jsonb_each_text(reasons) AS r(key, value)
         WHERE minute >= %(now)s - interval '60 minutes' GROUP BY 1, 2) x
     GROUP BY source),
usual AS (
    SELECT source, sum(events)::float8 / count(DISTINCT k) AS events, count(DISTINCT k) AS weeks
      FROM source_minutes, generate_series(1, 4) AS k
     WHERE minute >= %(now)s - k * interval '7 days' - interval '60 minutes'
       AND minute < %(now)s - k * interval '7 days'
     GROUP BY source),
seen AS (
    SELECT source, max(last_arrival) AS last FROM source_minutes
     WHERE minute >= %(now)s - make_interval(days => %(seen_days)s) GROUP BY source)
SELECT source, seen.last, coalesce(hour.events, 0), usual.events, coalesce(usual.weeks, 0),
       coalesce(hour.refused, 0), coalesce(why.reasons, '{}'), hour.delay_sum, hour.delay_max
  FROM seen FULL JOIN hour USING (source) FULL JOIN usual USING (source)
       LEFT JOIN why USING (source)
 ORDER BY source
"""


@dataclass(frozen=True)
class SourceHealth:
    """One source over the last hour (of arrival), beside the same hour of the 4 weeks
    before."""

    source: str
    last_arrival: datetime | None       # within SEEN_DAYS
    events: int                         # stored in the last hour
    usual_events: float | None          # the same hour's, averaged over the weeks that had any
    usual_weeks: int
    refused: int                        # in the last hour
    reasons: dict[str, int]             # why, in the last hour
    delay_avg_ms: float | None
    delay_max_ms: float | None

    @property
    def refused_share(self) -> float:
        total = self.events + self.refused
        return self.refused / total if total else 0.0

    def main_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def health(conn: psycopg.Connection, now: datetime) -> list[SourceHealth]:
    """Every source seen in the last SEEN_DAYS, or with a usual hour, as of `now`."""
    out = []
    for (source, last, events, usual, weeks, refused, reasons, delay_sum,
         delay_max) in conn.execute(HEALTH_QUERY, {"now": now, "seen_days": SEEN_DAYS}):
        out.append(SourceHealth(source, last, events, usual, weeks, refused, dict(reasons),
                                delay_sum / events if events and delay_sum is not None
                                else None, delay_max))
    return out


# What makes a source "in trouble" (the wall's count, the shipped rules): data, not guesses.
@dataclass(frozen=True)
class Bounds:
    busy_events: float = 60.0     # a usual hour with this many events: a busy source
    quiet_minutes: float = 15.0   # ... silent this long is quiet
    refused_share: float = 0.05   # more refused than this share of its last hour
    refused_least: int = 10       # ... and at least this many (one bad event is not a trend)
    late_ms: float = 300_000.0    # events arriving five minutes after they happened, on average


def troubles(h: SourceHealth, now: datetime, bounds: Bounds = Bounds()) -> list[str]:
    """What is wrong with a source now: `quiet` (usually busy in this hour, over at least
    two weeks, and silent for `quiet_minutes`), `refusing` (a refused share above the bound),
    `late` (events arriving late on average); empty when nothing is."""
    found = []
    busy = h.usual_events is not None and h.usual_weeks >= 2 \
        and h.usual_events >= bounds.busy_events
    silent_for = (now - h.last_arrival).total_seconds() / 60 if h.last_arrival else None
    if busy and (silent_for is None or silent_for >= bounds.quiet_minutes):
        found.append("quiet")
    if h.refused >= bounds.refused_least and h.refused_share > bounds.refused_share:
        found.append("refusing")
    if h.delay_avg_ms is not None and h.delay_avg_ms > bounds.late_ms:
        found.append("late")
    return found
