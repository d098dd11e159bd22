"""What the rule kinds read from the stored events, and what they share while they read.

`StoredReads` holds the connection, the province's names for the entities the rules label
(agencies, portals, links with their hospitals and units), the probes of the running system
the pipeline rules ask (lag, stalled backlogs, failing rules, brokers out of sync), and,
within a batch of steps, the heartbeats the link rules read once for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg

from ioc.calendar import WorkCalendar
from ioc.contract import EARLIEST, FEED_TABLES, LATEST
from ioc.province import Province
from streams.alerts.windows import ONE_US, micros, newest, sliding

# occurred_at in whole microseconds since the epoch (as `micros` gives it), computed by the
# database: exact (extract gives a numeric), and integers slide many times faster
OCCURRED_US = "(extract(epoch FROM occurred_at) * 1000000)::int8"

SOURCES = {"dossiers": "dossier_events", "portal_health": "portal_health",
           "heartbeats": "link_heartbeats", "consultations": "consultations",
           "payments": "payments"}


class StoredReads:
    """The stored events as the rule kinds read them; entity names come from the province."""

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

    def rows(self, query: str, params: tuple) -> list[tuple]:
        # binary results: a backtest reads a million heartbeats a day, and parsing them from
        # text took twice as long
        return self.conn.execute(query, params, binary=True).fetchall()

    def span(self, query: str, ats: list[datetime], seconds: float) -> list[tuple]:
        """The rows of `query` for the windows of `seconds` ending at each step of `ats`:
        its two parameters bound (first step - seconds, last step]."""
        return self.rows(query, (ats[0] - timedelta(seconds=seconds), ats[-1]))

    @staticmethod
    def slide(rows: Iterable[tuple[str, int, int, int]], ats: list[datetime],
              seconds: float) -> dict[str, list[tuple[int, int, int, int]]]:
        """`sliding` over rows timed in microseconds (`OCCURRED_US`)."""
        return sliding(rows, [micros(at) for at in ats], timedelta(seconds=seconds) // ONE_US)

    def steps(self, inner: str, ats: list[datetime], params: tuple = ()) -> list[list[tuple]]:
        """The rows of `inner` (a query on the step `s.at`) for each step of `ats`, in order;
        `inner` orders its own rows."""
        out: list[list[tuple]] = [[] for _ in ats]
        for n, *row in self.conn.execute(
                "SELECT s.n, q.* FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS s(at, n)"
                f" CROSS JOIN LATERAL ({inner}) AS q ORDER BY s.n", (ats, *params)).fetchall():
            out[n - 1].append(tuple(row))
        return out

    def heartbeats(self, ats: list[datetime], seconds: float) -> list[tuple]:
        """(link, time in µs, latency, loss, down) of the heartbeats in the windows of
        `seconds` ending at the steps `ats`, read once for the batch's link rules: the read
        spans the widest window asked so far, rows older than a window leave it at once."""
        self._widest = widest = max(seconds, self._widest)
        held = self._heartbeats_read
        if (held is not None and held[1] == ats[-1]
                and held[0] <= ats[0] - timedelta(seconds=seconds)):
            return held[2]
        rows = self.span(f"SELECT link_id, {OCCURRED_US}, latency_ms, loss_pct,"
                         " status = 'down' FROM link_heartbeats"
                         " WHERE occurred_at > %s AND occurred_at <= %s", ats, widest)
        if self._batching:
            self._heartbeats_read = (ats[0] - timedelta(seconds=widest), ats[-1], rows)
        return rows

    def newest_events(self, table: str, ats: list[datetime]) -> list[int | None]:
        """Per step: the newest event of `table` at or before it, within a day, in µs (the
        heartbeats from the batch's shared read)."""
        day = 86400.0
        times = [t for (t,) in self.rows(
            f"SELECT {OCCURRED_US} FROM {table}"  # noqa: S608 - fixed names
            " WHERE occurred_at <= %s AND occurred_at > %s ORDER BY occurred_at DESC LIMIT 1",
            (ats[0], ats[0] - timedelta(seconds=day)))]
        steps_us = [micros(at) for at in ats]
        if table == "link_heartbeats":
            times += sorted(t for _, t, *_ in self.heartbeats(ats, 0) if t > steps_us[0])
        else:
            times += [t for (t,) in self.rows(
                f"SELECT {OCCURRED_US} FROM {table}"  # noqa: S608 - fixed names
                " WHERE occurred_at > %s AND occurred_at <= %s ORDER BY occurred_at",
                (ats[0], ats[-1]))]
        return newest(times, steps_us, timedelta(seconds=day) // ONE_US)


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
