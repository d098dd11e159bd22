"""The snapshot every open wall shares: one read per refresh interval, the last one kept
(marked with since when) while the database cannot be read."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from ioc.db import READER_ROLE, connect, role_url
from ioc.errors import ServiceError
from ioc.settings import Settings
from ioc_dashboard.data.queries import BACKTEST, BACKTEST_RUNS, BACKTESTS_LISTED
from ioc_dashboard.data.rows import BacktestChoice, BacktestRun, Snapshot
from ioc_dashboard.data.snapshot import read_snapshot

log = logging.getLogger(__name__)

def reader_url(settings: Settings) -> str:
    assert settings.database_url, "the dashboard needs IOC_DATABASE_URL (ioc up sets it)"
    return role_url(settings.database_url, READER_ROLE, settings.reader_password)


@dataclass
class WallData:
    """Reads one snapshot per refresh `interval` (aligned slots of the monotonic clock),
    whatever the number of callers and however their refreshes are staggered; 0: every call.

    `replay_schema` is where replay_runs live (the live wall reads it to announce a running
    replay; the replay wall reads its own schema).
    """

    connect: Callable[[], psycopg.Connection]
    interval: float
    replay_schema: str = "ioc_replay"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    # resolved alerts still listed (create_app sets it from the wall file)
    resolved_window: timedelta = timedelta(hours=6)
    statements: int = 0  # queries run so far (the bench compares walls by it)
    reads: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection | None = None
    _snapshot: Snapshot = field(default_factory=Snapshot)
    _read_slot: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, replay: bool = False) -> WallData:
        """The live wall's reader, or (`replay`) the reader of the replay namespace."""
        target = settings.for_replay() if replay else settings
        url = reader_url(settings)
        return cls(lambda: connect(url, target.db_schema, autocommit=True, timeout=3,
                                   application_name="ioc-dashboard"),
                   interval=settings.refresh_seconds,
                   replay_schema=settings.for_replay().db_schema)

    def snapshot(self) -> Snapshot:
        with self._lock:
            # a wall refreshing early in a slot and one refreshing late share one read
            slot = self.monotonic() // self.interval if self.interval > 0 else None
            if slot is None or slot != self._read_slot:
                self._snapshot = self._read()
                self._read_slot = slot
            return self._snapshot

    @property
    def last(self) -> Snapshot:
        """The newest snapshot, without reading (what the last caller got)."""
        return self._snapshot

    def invalidate(self) -> None:
        """Read afresh at the next request (after an operator action changed something)."""
        with self._lock:
            self._read_slot = None

    def backtests(self, schema: str, run_id: int | None = None
                  ) -> tuple[BacktestRun | None, list[BacktestChoice]]:
        """The finished backtest `run_id` kept in `schema` (None: the newest; None when
        there is none, or no such schema yet) and the newest finished runs to choose from;
        read on demand, by the page that shows them."""
        with self._lock:
            try:
                conn = self._connection()
                if conn.execute("SELECT to_regclass(%s)", (f"{schema}.backtest_runs",)
                                ).fetchone()[0] is None:
                    return None, []
                runs = sql.Identifier(schema, "backtest_runs")
                row = conn.execute(sql.SQL(BACKTEST).format(runs=runs),
                                   {"run": run_id}).fetchone()
                choices = conn.execute(sql.SQL(BACKTEST_RUNS).format(runs=runs),
                                       {"limit": BACKTESTS_LISTED}).fetchall()
                return (BacktestRun(*row) if row else None), [BacktestChoice(*c) for c in choices]
            except (psycopg.Error, ServiceError) as exc:
                log.warning("wall could not read the backtest runs: %s", exc)
                self._drop()
                return None, []

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
        started = time.perf_counter()
        try:
            snap, statements = read_snapshot(self._connection(), self.replay_schema,
                                             self.resolved_window)
            self.statements += statements
            self.reads += 1
            return replace(snap, read_at=now, read_ms=(time.perf_counter() - started) * 1000)
        except (psycopg.Error, ServiceError) as exc:
            self._drop()
            previous = self._snapshot
            log.warning("wall could not read the database: %s", exc)
            return replace(previous, lost_since=previous.lost_since or now,
                           error=str(exc).strip())
