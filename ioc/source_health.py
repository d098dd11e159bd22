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
