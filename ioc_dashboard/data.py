"""What the wall shows, read through the read-only role, shared by every open wall.

All walls share one snapshot per refresh interval (one set of queries, however many
screens are open); a failed read keeps the last snapshot and records since when the
database has been unreachable, so the wall can say so instead of freezing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from ioc.db import READER_ROLE, connect, role_url
from ioc.errors import ServiceError
from ioc.settings import Settings

log = logging.getLogger(__name__)

FEED_STATS = "SELECT feed, rows_stored, newest_event_at FROM feed_stats ORDER BY feed"
DEAD_LETTERS = "SELECT count(*) FROM dead_letters"


@dataclass(frozen=True)
class FeedStat:
    feed: str
    rows_stored: int
    newest_event_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """One read of the database, with when it was taken and whether it failed since."""

    feeds: tuple[FeedStat, ...] = ()
    dead_letters: int = 0
    read_at: datetime | None = None
    lost_since: datetime | None = None
    error: str | None = None


def reader_url(settings: Settings) -> str:
    assert settings.database_url, "the dashboard needs IOC_DATABASE_URL (ioc up sets it)"
    return role_url(settings.database_url, READER_ROLE, settings.reader_password)


@dataclass
class WallData:
    """Reads snapshots at most once per `max_age` seconds, whatever the number of callers."""

    connect: Callable[[], psycopg.Connection]
    max_age: float
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection | None = None
    _snapshot: Snapshot = field(default_factory=Snapshot)
    _read_monotonic: float = -1e9

    @classmethod
    def from_settings(cls, settings: Settings) -> WallData:
        url = reader_url(settings)
        return cls(lambda: connect(url, settings.db_schema, autocommit=True, timeout=3,
                                   application_name="ioc-dashboard"),
                   max_age=settings.refresh_seconds / 2)

    def snapshot(self) -> Snapshot:
        with self._lock:
            if time.monotonic() - self._read_monotonic >= self.max_age:
                self._snapshot = self._read()
                self._read_monotonic = time.monotonic()
            return self._snapshot

    def ping(self) -> bool:
        """True when the database answers now (for /healthz)."""
        with self._lock:
            try:
                self._connection().execute("SELECT 1")
                return True
            except (psycopg.Error, ServiceError):
                self._drop()
                return False

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _read(self) -> Snapshot:
        now = self.clock()
        try:
            conn = self._connection()
            feeds = tuple(FeedStat(*row) for row in conn.execute(FEED_STATS).fetchall())
            dead = conn.execute(DEAD_LETTERS).fetchone()[0]
            return Snapshot(feeds=feeds, dead_letters=dead, read_at=now)
        except (psycopg.Error, ServiceError) as exc:
            self._drop()
            previous = self._snapshot
            log.warning("wall could not read the database: %s", exc)
            return Snapshot(feeds=previous.feeds, dead_letters=previous.dead_letters,
                            read_at=previous.read_at,
                            lost_since=previous.lost_since or now, error=str(exc).strip())
