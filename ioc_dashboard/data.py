"""What the wall shows, read through the read-only role, shared by every open wall.

All walls share one snapshot per refresh interval (one set of queries, however many
screens are open); a failed read keeps the last snapshot and records since when the
database has been unreachable, so the wall can say so instead of freezing.

Every figure comes from the aggregate views (payments_1m, dossiers_1h, link_heartbeats_1m,
portal_health_1m) over a short window ending at each feed's newest event, so a refresh costs
the same with a day or with months of data, and a replayed (or stopped) feed still shows its
last figures, marked late.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from ioc.db import READER_ROLE, connect, role_url
from ioc.errors import ServiceError
from ioc.indicators import COUNTS_QUERY, Scope, scopes_of
from ioc.settings import Settings
from ioc_dashboard.i18n import TZ

log = logging.getLogger(__name__)

# Kept for the TimescaleDB comparison test and `ioc status`-like uses.
FEED_STATS = "SELECT feed, rows_stored, newest_event_at FROM feed_stats ORDER BY feed"
DEAD_LETTERS = "SELECT count(*) FROM dead_letters"

# Newest event per table (index-only backward scans), dead letters, and which optional
# tables exist (the replay schema is only there once a replay ran).
NEWEST = """
SELECT (SELECT max(occurred_at) FROM dossier_events),
       (SELECT max(occurred_at) FROM portal_health),
       (SELECT max(occurred_at) FROM link_heartbeats),
       (SELECT max(occurred_at) FROM consultations),
       (SELECT max(occurred_at) FROM payments),
       (SELECT count(*) FROM dead_letters),
       (SELECT count(*) FROM dead_letters WHERE received_at >= now() - interval '1 hour'),
       to_regclass('alerts_current') IS NOT NULL,
       to_regclass({runs}) IS NOT NULL,
       now(),
       (SELECT period_from FROM backfills ORDER BY id DESC LIMIT 1),
       (SELECT period_to FROM backfills ORDER BY id DESC LIMIT 1)
"""
DOSSIERS_HOURLY = """
SELECT bucket, sum(received)::bigint, sum(received_online)::bigint, sum(resolved)::bigint,
       sum(resolved_on_time)::bigint
  FROM dossiers_1h WHERE bucket >= %(since)s GROUP BY bucket ORDER BY bucket
"""
LINKS = """
SELECT bucket, link_id, hospital_code, unit_code, beats, down_beats, avg_latency_ms, max_loss_pct
  FROM link_heartbeats_1m WHERE bucket >= %(since)s ORDER BY bucket, link_id
"""
PAYMENTS = """
SELECT bucket, category, sum(succeeded)::bigint, sum(failed)::bigint, sum(amount_vnd)::bigint
  FROM payments_1m WHERE bucket >= %(since)s GROUP BY 1, 2 ORDER BY 1, 2
"""
# The same hour on the same weekday of one week before, moved forward to this week: the
# payments page's typical band, one such part per week. Each part's range is a constant, so
# the planner narrows the aggregate to that hour (through its bucket index on plain
# PostgreSQL); a range computed from a joined row is not pushed below the view's GROUP BY,
# and 30 days of payments were aggregated at every refresh.
PAYMENTS_WEEK = """
SELECT {k}, bucket + interval '{k} weeks', category, sum(succeeded)::bigint, sum(failed)::bigint
  FROM payments_1m WHERE bucket >= %(from{k})s AND bucket <= %(to{k})s GROUP BY 2, 3
"""
# The same weekday of one week before, hour by hour, moved forward to this week: the portal
# page's usual day and the overview tiles' usual ratios so far, one such part per week, as
# for the payments.
DOSSIERS_WEEK = """
SELECT {k}, bucket + interval '{k} weeks', sum(received)::bigint, sum(received_online)::bigint,
       sum(resolved)::bigint, sum(resolved_on_time)::bigint
  FROM dossiers_1h WHERE bucket >= %(from{k})s AND bucket < %(to{k})s GROUP BY 2
"""
# The same weekday of one week before, from midnight to this time of day: consultations
# started minus ended (running then), and how many events that whole day held (none: no
# clinic was open, or the system was not running). One part per week, as for the payments;
# the raw table is read (no aggregate), a few hundred rows a day through its time index.
CONSULTATIONS_WEEK = """
SELECT {k}, count(*) FILTER (WHERE event_type = 'started' AND occurred_at < %(to{k})s)
            - count(*) FILTER (WHERE event_type = 'ended' AND occurred_at < %(to{k})s),
       count(*)
  FROM consultations
 WHERE occurred_at >= %(from{k})s AND occurred_at < %(from{k})s + interval '1 day'
"""
# The newest complete minute of heartbeats on the same weekday of one week before: links up
# (beats, none down) of those heard then. One part per week, as for the payments.
LINKS_WEEK = """
SELECT {k}, count(*) FILTER (WHERE beats > 0 AND down_beats = 0), count(*)
  FROM link_heartbeats_1m WHERE bucket >= %(from{k})s AND bucket < %(to{k})s
"""
PORTAL = """
SELECT bucket, portal_code, requests, errors, max_p95_latency_ms
  FROM portal_health_1m WHERE bucket >= %(since)s ORDER BY 1, 2
"""
# Consultations running: started minus ended since the start of the local day.
CONSULTATIONS = """
SELECT count(*) FILTER (WHERE event_type = 'started') - count(*) FILTER (WHERE event_type = 'ended')
  FROM consultations WHERE occurred_at >= %(since)s
"""
# How long the newest heartbeats took from the hospital to the database (pipeline delay).
INGEST_DELAY = """
SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - occurred_at))
  FROM link_heartbeats WHERE occurred_at >= %(since)s
"""
ALERTS = """
SELECT fingerprint, rule, labels, severity, state, value, threshold, summary_vi, summary_en,
       starts_at, pending_since, ends_at, updated_at, acknowledged_by, acknowledged_at,
       ack_comment, silenced_by
  FROM alerts_current
 WHERE state <> 'resolved' OR ends_at >= %(resolved_since)s
 ORDER BY state = 'resolved', array_position(ARRAY['critical', 'warning', 'info'], severity),
          coalesce(starts_at, pending_since) DESC
 LIMIT 200
"""
# When the alert engine last evaluated (it touches its state at least every few seconds).
ENGINE = "SELECT max(updated_at) FROM alert_engine_state"
SILENCES = """
SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences_active ORDER BY id
"""
REPLAY_RUNS = """
SELECT run_id, recording, seed, speed, rebased, started_at, finished_at, events_sent,
       first_event_at, last_event_at
  FROM {runs} ORDER BY run_id DESC LIMIT 20
"""

# The newest finished `ioc backtest` run of the backtest namespace: what the replay page
# shows (summary, episodes, diff; not every state change).
BACKTEST = """
SELECT run_id, input, rules, against, finished_at, result->'period', result->'summary',
       result->'left_out', result->'against',
       (SELECT coalesce(jsonb_agg(jsonb_build_object('rule', a->'rule', 'labels', a->'labels',
                                                     'episodes', a->'episodes')), '[]')
          FROM jsonb_array_elements(result->'alerts') AS a)
  FROM {runs} WHERE finished_at IS NOT NULL AND (%(run)s::bigint IS NULL OR run_id = %(run)s)
 ORDER BY run_id DESC LIMIT 1
"""
BACKTEST_RUNS = """
SELECT run_id, input, finished_at FROM {runs} WHERE finished_at IS NOT NULL
 ORDER BY run_id DESC LIMIT %(limit)s
"""
BACKTESTS_LISTED = 30  # the newest finished runs offered on the replay page

TREND_MINUTES = 60
TREND_HOURS = 24
TYPICAL_WEEKS = 4  # a usual day: the same weekday, up to this many weeks back


def weeks_before(part: str, since: datetime, until: datetime, order: str
                 ) -> tuple[str, dict[str, datetime]]:
    """`part` (a query on the range %(from{k})s – %(to{k})s) for each of the TYPICAL_WEEKS
    weeks before, as one statement of constant ranges, and its parameters."""
    weeks = range(1, TYPICAL_WEEKS + 1)
    params = {f"{end}{k}": at - timedelta(weeks=k) for k in weeks
              for end, at in (("from", since), ("to", until))}
    return " UNION ALL ".join(part.format(k=k) for k in weeks) + f" ORDER BY {order}", params


class DossierHour(NamedTuple):
    bucket: datetime
    received: int
    received_online: int
    resolved: int
    resolved_on_time: int


class PaymentWeekMinute(NamedTuple):
    weeks: int  # back
    bucket: datetime  # moved forward by `weeks`
    category: str
    succeeded: int
    failed: int


class LinkWeekMinute(NamedTuple):
    weeks: int  # back
    up: int  # links up in that minute
    heard: int  # links heard from in that minute


class ConsultationWeek(NamedTuple):
    weeks: int  # back
    running: int  # at this time of day
    events: int  # that whole day


class DossierWeekHour(NamedTuple):
    weeks: int  # back
    bucket: datetime  # moved forward by `weeks`
    received: int
    received_online: int
    resolved: int
    resolved_on_time: int


class LinkMinute(NamedTuple):
    bucket: datetime
    link_id: str
    hospital_code: str
    unit_code: str
    beats: int
    down_beats: int
    avg_latency_ms: float | None
    max_loss_pct: float | None


class PaymentMinute(NamedTuple):
    bucket: datetime
    category: str
    succeeded: int
    failed: int
    amount_vnd: int


class PortalMinute(NamedTuple):
    bucket: datetime
    portal_code: str
    requests: int
    errors: int
    p95_latency_ms: float | None


class Alert(NamedTuple):
    fingerprint: str
    rule: str
    labels: dict[str, Any]
    severity: str
    state: str
    value: float | None
    threshold: float | None
    summary_vi: str
    summary_en: str
    starts_at: datetime | None
    pending_since: datetime | None
    ends_at: datetime | None
    updated_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    silenced_by: int | None

    def summary(self, lang: str) -> str:
        return self.summary_en if lang == "en" else self.summary_vi

    @property
    def active(self) -> bool:
        return self.state != "resolved"


class Silence(NamedTuple):
    id: int
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


class BacktestRun(NamedTuple):
    run_id: int
    input: str
    rules: str
    against: str | None
    finished_at: datetime
    period: dict[str, Any]
    summary: dict[str, dict[str, float]]
    left_out: list[str]
    diff: dict[str, Any] | None
    alerts: list[dict[str, Any]]


class BacktestChoice(NamedTuple):
    """A finished backtest run, as offered for choosing."""

    run_id: int
    input: str
    finished_at: datetime


class ReplayRun(NamedTuple):
    run_id: int
    recording: str
    seed: int | None
    speed: float | None
    rebased: bool
    started_at: datetime
    finished_at: datetime | None
    events_sent: int
    first_event_at: datetime | None
    last_event_at: datetime | None

    @property
    def active(self) -> bool:
        return self.finished_at is None


@dataclass(frozen=True)
class Snapshot:
    """One read of the database, with when it was taken and whether it failed since.

    `newest` maps each table to its newest event time; the windows of the other fields end
    there (see the module docstring).
    """

    newest: dict[str, datetime | None] = field(default_factory=dict)
    dossiers_hourly: tuple[DossierHour, ...] = ()
    # today's dossier counts of the province, each receiving centre and each agency
    dossier_scopes: tuple[Scope, ...] = ()
    dossiers_day_start: datetime | None = None
    links: tuple[LinkMinute, ...] = ()
    links_weeks: tuple[LinkWeekMinute, ...] = ()  # the same minute of the same weekday
    payments: tuple[PaymentMinute, ...] = ()
    # (weeks back, hour moved forward by them, received, received online, resolved, resolved
    # on time) of the same weekday: the usual day
    dossiers_weeks: tuple[DossierWeekHour, ...] = ()
    # the same hour of the same weekday, minute by minute and category: the typical band
    payments_weeks: tuple[PaymentWeekMinute, ...] = ()
    portal: tuple[PortalMinute, ...] = ()
    consultations_active: int = 0
    consultations_weeks: tuple[ConsultationWeek, ...] = ()  # the same weekday, this time
    ingest_delay_s: float | None = None
    dead_letters: int = 0
    dead_letters_hour: int = 0
    alerts_available: bool = False
    alerts: tuple[Alert, ...] = ()
    alerts_evaluated_at: datetime | None = None  # the engine's last evaluation (wall time)
    silences: tuple[Silence, ...] = ()
    replay_runs: tuple[ReplayRun, ...] = ()
    # the simulated history stored on a first start (ioc up): from, to
    backfilled: tuple[datetime, datetime] | None = None
    db_now: datetime | None = None
    read_at: datetime | None = None
    read_ms: float | None = None
    lost_since: datetime | None = None
    error: str | None = None


TABLES = ("dossier_events", "portal_health", "link_heartbeats", "consultations", "payments")


def telemedicine_at(newest: dict[str, datetime | None]) -> datetime | None:
    """The telemedicine feed's time: its newest consultation or heartbeat, whichever is later
    (heartbeats come every few seconds, consultations a few an hour)."""
    return max((t for t in (newest.get("consultations"), newest.get("link_heartbeats"))
                if t is not None), default=None)


def local_day_start(at: datetime) -> datetime:
    """Midnight (Asia/Ho_Chi_Minh) of the day `at` falls in, as an aware UTC time."""
    local = at.astimezone(TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def read_snapshot(conn: psycopg.Connection, replay_schema: str,
                  resolved_window: timedelta = timedelta(hours=6)) -> tuple[Snapshot, int]:
    """Run the wall's set of queries once; return the snapshot and how many statements ran."""
    runs = sql.Literal(f"{replay_schema}.replay_runs")
    statements = 0

    def rows(query: str | sql.Composed, **params: Any) -> list[tuple]:
        nonlocal statements
        statements += 1
        return conn.execute(query, params or None).fetchall()

    head = rows(sql.SQL(NEWEST).format(runs=runs))[0]
    newest = dict(zip(TABLES, head[:5], strict=True))
    dead, dead_hour, has_alerts, has_runs, db_now, backfill_from, backfill_to = head[5:]
    snap: dict[str, Any] = {"newest": newest, "dead_letters": dead, "dead_letters_hour": dead_hour,
                            "alerts_available": has_alerts, "db_now": db_now}
    if backfill_from is not None:
        snap["backfilled"] = (backfill_from, backfill_to)
    if newest["dossier_events"]:
        day = local_day_start(newest["dossier_events"])
        hours = newest["dossier_events"].replace(minute=0, second=0, microsecond=0)
        snap["dossiers_day_start"] = day
        snap["dossiers_hourly"] = tuple(DossierHour(*r) for r in rows(
            DOSSIERS_HOURLY, since=min(day, hours - timedelta(hours=TREND_HOURS - 1))))
        snap["dossier_scopes"] = tuple(scopes_of(rows(COUNTS_QUERY, since=day,
                                                      until=day + timedelta(days=1))))
        query, params = weeks_before(DOSSIERS_WEEK, day, day + timedelta(days=1), "1, 2")
        snap["dossiers_weeks"] = tuple(DossierWeekHour(*r) for r in rows(query, **params))
    if newest["link_heartbeats"]:
        at = newest["link_heartbeats"]
        snap["links"] = tuple(LinkMinute(*r) for r in rows(
            LINKS, since=_minute(at) - timedelta(minutes=TREND_MINUTES)))
        snap["ingest_delay_s"] = rows(INGEST_DELAY, since=at - timedelta(minutes=1))[0][0]
        complete = _minute(at) - timedelta(minutes=1)  # the newest one is still filling
        query, params = weeks_before(LINKS_WEEK, complete, complete + timedelta(minutes=1), "1")
        snap["links_weeks"] = tuple(LinkWeekMinute(*r) for r in rows(query, **params))
    if newest["consultations"]:
        # the telemedicine feed's time (heartbeats come every few seconds, consultations
        # a few an hour): today's running consultations and the weeks' at that time of day
        at = telemedicine_at(newest)
        day = local_day_start(at)
        snap["consultations_active"] = max(0, rows(CONSULTATIONS, since=day)[0][0] or 0)
        query, params = weeks_before(CONSULTATIONS_WEEK, day, at, "1")
        snap["consultations_weeks"] = tuple(ConsultationWeek(*r) for r in rows(query, **params))
    if newest["payments"]:
        since = _minute(newest["payments"]) - timedelta(minutes=TREND_MINUTES)
        snap["payments"] = tuple(PaymentMinute(*r) for r in rows(PAYMENTS, since=since))
        query, params = weeks_before(PAYMENTS_WEEK, since, newest["payments"], "1, 2, 3")
        snap["payments_weeks"] = tuple(PaymentWeekMinute(*r) for r in rows(query, **params))
    if newest["portal_health"]:
        snap["portal"] = tuple(PortalMinute(*r) for r in rows(
            PORTAL, since=_minute(newest["portal_health"]) - timedelta(minutes=TREND_MINUTES)))
    if has_alerts:
        snap["alerts"] = tuple(Alert(*r) for r in rows(
            ALERTS, resolved_since=db_now - resolved_window))
        snap["silences"] = tuple(Silence(*r) for r in rows(SILENCES))
        snap["alerts_evaluated_at"] = rows(ENGINE)[0][0]
    if has_runs:
        snap["replay_runs"] = tuple(ReplayRun(*r) for r in rows(
            sql.SQL(REPLAY_RUNS).format(runs=sql.Identifier(replay_schema, "replay_runs"))))
    return Snapshot(**snap), statements


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
