"""The database sink: batched, idempotent writes of validated events and dead letters.

A batch is COPYed into per-connection staging tables and moved into the event tables with
`INSERT ... ON CONFLICT DO NOTHING` in one transaction, so a redelivered event is a no-op
and the caller may commit its offsets as soon as `write()` returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from ioc import contract as c
from ioc.refusals import reason_label
from ioc.source_health import SourceTally, record

# table -> its columns after the shared ones (unit_codes_sent: the codes as a producer sent
# them when they were pre-2025 codes mapped at the edge; NULL otherwise)
_SHARED = ("event_id", "occurred_at", "unit_code", "unit_codes", "unit_codes_sent")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "dossier_events": ("event_type", "dossier_id", "procedure_code", "agency_code",
                       "service_level", "channel", "due_at", "result", "centre_code",
                       "digitised", "payment", "e_result"),
    "portal_health": ("portal_code", "window_seconds", "requests", "errors", "p95_latency_ms"),
    "link_heartbeats": ("link_id", "hospital_code", "hub_code", "status", "latency_ms",
                        "jitter_ms", "loss_pct"),
    "consultations": ("event_type", "session_id", "link_id", "hospital_code", "hub_code",
                      "specialty"),
    "payments": ("payment_id", "category", "channel", "amount_vnd", "status", "failure_reason"),
}


def _dossier(e) -> tuple:
    d = e.data
    kind = e.event_type.removeprefix("dossier.")
    if kind == "received":
        return (kind, d.dossier_id, d.procedure_code, d.agency_code, d.service_level,
                d.channel, d.due_at, None, d.centre_code, d.digitised, d.payment, None)
    return (kind, d.dossier_id, d.procedure_code, d.agency_code, None, None, d.due_at, d.result,
            d.centre_code, None, None, d.e_result)


def _consultation(e) -> tuple:
    d = e.data
    return (e.event_type.removeprefix("consultation."), d.session_id, d.link_id,
            d.hospital_code, d.hub_code, d.specialty)


def _fields(*names: str) -> Callable[[c.Envelope], tuple]:
    return lambda e: tuple(getattr(e.data, n) for n in names)


# event_type -> (table, row builder for the table's own columns)
ROUTES: dict[str, tuple[str, Callable[[c.Envelope], tuple]]] = {
    "dossier.received": ("dossier_events", _dossier),
    "dossier.resolved": ("dossier_events", _dossier),
    "portal.health": ("portal_health", _fields(*TABLE_COLUMNS["portal_health"])),
    "link.heartbeat": ("link_heartbeats", _fields(*TABLE_COLUMNS["link_heartbeats"])),
    "consultation.started": ("consultations", _consultation),
    "consultation.ended": ("consultations", _consultation),
    "payment.completed": ("payments", _fields(*TABLE_COLUMNS["payments"])),
}
assert set(ROUTES) == set(c.EVENT_TYPES), "every event type needs a table"


@dataclass(frozen=True)
class DeadLetter:
    """An event that failed validation, with where it came from and why (and, for the
    sources' health, who sent it and when it arrived; None: not counted)."""

    topic: str
    partition: int
    offset: int
    feed: str
    reason: str
    raw: bytes
    origin: Origin | None = None


@dataclass(frozen=True)
class Origin:
    """Who sent an event (`ioc.source_health.source_of` its record's headers) and when it
    arrived (the Kafka record's time)."""

    source: str
    arrived: datetime


@dataclass(frozen=True)
class WriteResult:
    """What one write changed: rows newly inserted per table, dead letters newly recorded."""

    inserted: dict[str, int]
    new_dead: list[DeadLetter]

    @property
    def stored(self) -> int:
        return sum(self.inserted.values())


def rows_by_table(events: Iterable[c.Envelope]) -> dict[str, list[tuple]]:
    """Group events into rows of their tables."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for e in events:
        table, build = ROUTES[e.event_type]
        out[table].append((e.event_id, e.occurred_at, e.unit_codes[0], e.unit_codes,
                           e._unit_codes_sent, *build(e)))
    return out


REFUSED_BY_DATABASE = "refused by the database"


def _tally(events: Sequence[c.Envelope], origins: Sequence[Origin], new_ids: set[str],
           new_dead: Sequence[DeadLetter]) -> SourceTally:
    """What this batch adds to its sources' minutes: only rows and letters new to the
    database, so a redelivered batch adds nothing."""
    tally = SourceTally()
    for event, origin in zip(events, origins, strict=False):
        if event.event_id in new_ids:
            tally.stored(origin.source, event.feed, origin.arrived,  # type: ignore[attr-defined]
                         event.occurred_at)
    for d in new_dead:
        if d.origin is not None:
            tally.refused(d.origin.source, d.feed, d.origin.arrived,
                          "refused_by_database" if d.reason.startswith(REFUSED_BY_DATABASE)
                          else reason_label(d.reason))
    return tally


class EventSink:
    """Writes batches over one writer connection it owns; reconnects when asked to."""

    def __init__(self, connect: Callable[[], psycopg.AsyncConnection]):
        self._connect = connect
        self._conn: psycopg.AsyncConnection | None = None

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
            for table in TABLE_COLUMNS:
                await self._conn.execute(sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                    "ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(f"stage_{table}"), sql.Identifier(table)))
            await self._conn.commit()
        return self._conn

    async def write(self, events: Sequence[c.Envelope],
                    dead: Sequence[DeadLetter] = (),
                    origins: Sequence[Origin] | None = None) -> WriteResult:
        """Store a batch durably in one transaction; say what was new.

        Returns rows newly inserted per table (redelivered duplicates excluded) and the dead
        letters not recorded before, so the caller publishes each to the dead-letter topic at
        most once. With `origins` (one per event), the new rows and the new dead letters are
        also counted per source in `source_minutes`, in the same transaction. Raises psycopg
        errors as they come (the caller classifies them).
        """
        conn = await self._connection()
        inserted: dict[str, int] = {}
        new_dead: list[DeadLetter] = []
        new_ids: set[str] = set()
        returning = sql.SQL(" RETURNING event_id" if origins is not None else "")
        try:
            async with conn.transaction():
                for table, rows in rows_by_table(events).items():
                    columns = _SHARED + TABLE_COLUMNS[table]
                    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
                    stage = sql.Identifier(f"stage_{table}")
                    async with conn.cursor() as cur:
                        async with cur.copy(
                            sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)
                        ) as copy:
                            for row in rows:
                                await copy.write_row(row)
                        await cur.execute(sql.SQL(
                            "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING{}"
                        ).format(sql.Identifier(table), cols, cols, stage, returning))
                        inserted[table] = cur.rowcount
                        if origins is not None:
                            new_ids.update(i for (i,) in await cur.fetchall())
                if dead:
                    async with conn.cursor() as cur:
                        await cur.execute(
                            "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, "
                            "feed, reason, raw) SELECT * FROM unnest(%s::text[], %s::int[], "
                            "%s::bigint[], %s::text[], %s::text[], %s::bytea[]) "
                            "ON CONFLICT DO NOTHING RETURNING topic, kafka_partition, kafka_offset",
                            [[d.topic for d in dead], [d.partition for d in dead],
                             [d.offset for d in dead], [d.feed for d in dead],
                             [d.reason.replace("\x00", "") for d in dead],
                             [d.raw for d in dead]],
                        )
                        fresh = set(await cur.fetchall())
                    new_dead = [d for d in dead if (d.topic, d.partition, d.offset) in fresh]
                if origins is not None or any(d.origin for d in new_dead):
                    await record(conn, _tally(events, origins or (), new_ids, new_dead))
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await self.close()
            raise
        return WriteResult(inserted, new_dead)

    async def mark_published(self, letters: Sequence[DeadLetter]) -> None:
        """Note that these letters reached the dead-letter topic."""
        if not letters:
            return
        conn = await self._connection()
        try:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE dead_letters SET published_at = now()"
                    " WHERE (topic, kafka_partition, kafka_offset) IN (SELECT * FROM"
                    " unnest(%s::text[], %s::int[], %s::bigint[]))",
                    [[d.topic for d in letters], [d.partition for d in letters],
                     [d.offset for d in letters]])
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await self.close()
            raise

    async def unpublished(self, topics: Sequence[tuple[str, int]], older_than: float,
                          limit: int = 500) -> list[DeadLetter]:
        """Letters of these (topic, partition)s recorded over `older_than` seconds ago that
        never reached the dead-letter topic, oldest first."""
        if not topics:
            return []
        conn = await self._connection()
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(
                    "SELECT topic, kafka_partition, kafka_offset, feed, reason, raw"
                    "  FROM dead_letters WHERE published_at IS NULL"
                    "   AND received_at < now() - make_interval(secs => %s)"
                    "   AND (topic, kafka_partition) IN (SELECT * FROM"
                    "        unnest(%s::text[], %s::int[]))"
                    " ORDER BY received_at, topic, kafka_partition, kafka_offset LIMIT %s",
                    [older_than, [t for t, _ in topics], [p for _, p in topics], limit])
                rows = await cur.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await self.close()
            raise
        return [DeadLetter(t, p, o, f, r, bytes(raw)) for t, p, o, f, r, raw in rows]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
