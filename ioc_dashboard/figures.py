"""The wall's figures computed from one snapshot: KPIs against targets, freshness, link
states, unit colours. Pure functions (no database, no Dash), so they are unit-tested."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.calendar import WorkCalendar
from ioc.contract import FEED_TABLES
from ioc.province import Province
from ioc_dashboard.config import WallConfig
from ioc_dashboard.data import Alert, ReplayRun, Snapshot

SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}


@dataclass(frozen=True)
class Freshness:
    """How fresh a feed is: its newest event, how old that is, and whether it is late."""

    newest: datetime | None
    age_seconds: float | None
    late: bool
    limit_seconds: float


def feed_newest(snap: Snapshot, feed: str) -> datetime | None:
    times = [snap.newest.get(t) for t in FEED_TABLES[feed]]
    return max((t for t in times if t is not None), default=None)


def _judge(newest: datetime | None, now: datetime | None, limit: float,
           elapsed: Callable[[datetime, datetime], float] | None = None) -> Freshness:
    """No data is late; else late when `elapsed(newest, now)` (by default the seconds
    between them) is over `limit`."""
    if newest is None or now is None:
        return Freshness(None, None, True, limit)
    age = max(0.0, (now - newest).total_seconds())
    waited = age if elapsed is None else elapsed(newest, now)
    return Freshness(newest, age, waited > limit, limit)


def freshness(snap: Snapshot, feed: str, now: datetime, config: WallConfig) -> Freshness:
    """A feed with no data, or whose newest event is older than its limit, is late."""
    return _judge(feed_newest(snap, feed), now, config.feeds[feed].late_after_seconds)


def dossier_freshness(snap: Snapshot, now: datetime, config: WallConfig,
                      calendar: WorkCalendar) -> Freshness:
    """The dossier tiles' own freshness: the newest dossier event, late after
    `dossiers_late_after_working_seconds` of working time without one (the portal's health
    checks keep its feed fresh when dossiers alone stop)."""
    return _judge(snap.newest.get("dossier_events"), now,
                  config.dossiers_late_after_working_seconds, calendar.working_seconds_between)


def alerts_freshness(snap: Snapshot, config: WallConfig) -> Freshness:
    """How recent the alert engine's last evaluation is, on the database's clock: a stopped
    engine leaves its last alerts standing, so the panels built on them must say so."""
    return _judge(snap.alerts_evaluated_at, snap.db_now, config.alerts_late_after_seconds)


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class DossierKpis:
    received: int
    received_online: int
    resolved: int
    resolved_on_time: int
    on_time_ratio: float | None
    online_ratio: float | None
    hourly_received: tuple[tuple[datetime, int], ...]
    hourly_on_time: tuple[tuple[datetime, float | None], ...]


def dossier_kpis(snap: Snapshot) -> DossierKpis:
    """Today's (province-local day of the newest dossier event) totals and the hourly trend."""
    day = snap.dossiers_day_start
    today = [h for h in snap.dossiers_hourly if day is not None and h.bucket >= day]
    rec = sum(h.received for h in today)
    online = sum(h.received_online for h in today)
    res = sum(h.resolved for h in today)
    on_time = sum(h.resolved_on_time for h in today)
    return DossierKpis(
        rec, online, res, on_time, ratio(on_time, res), ratio(online, rec),
        tuple((h.bucket, h.received) for h in snap.dossiers_hourly),
        tuple((h.bucket, ratio(h.resolved_on_time, h.resolved)) for h in snap.dossiers_hourly))


@dataclass(frozen=True)
class LinkState:
    link_id: str
    hospital_code: str
    unit_code: str
    state: str  # 'up' | 'down' | 'silent'
    last_seen: datetime | None
    avg_latency_ms: float | None
    max_loss_pct: float | None


@dataclass(frozen=True)
class LinkKpis:
    links: tuple[LinkState, ...]
    up: int
    total: int
    trend: tuple[tuple[datetime, int], ...]  # links up per minute


def link_kpis(snap: Snapshot, province: Province, config: WallConfig,
              now: datetime) -> LinkKpis:
    """Each hospital's link: up when its newest minute has beats and none down, silent when
    no heartbeat came for `link_silent_after_seconds` (before `now`), else down."""
    newest: dict[str, object] = {}
    per_minute: dict[datetime, int] = defaultdict(int)
    for m in snap.links:  # ordered by bucket: the last one per link wins
        newest[m.link_id] = m
        if m.beats > 0 and m.down_beats == 0:
            per_minute[m.bucket] += 1
    silent_before = now - timedelta(seconds=config.link_silent_after_seconds)
    states = []
    for h in province.hospitals:
        m = newest.get(h.link_id)
        if m is None or m.bucket + timedelta(minutes=1) < silent_before:
            state = "silent"
        else:
            state = "up" if m.down_beats == 0 and m.beats > 0 else "down"
        states.append(LinkState(h.link_id, h.code, h.unit, state,
                                getattr(m, "bucket", None), getattr(m, "avg_latency_ms", None),
                                getattr(m, "max_loss_pct", None)))
    return LinkKpis(tuple(states), sum(s.state == "up" for s in states), len(states),
                    tuple(sorted(per_minute.items())))


@dataclass(frozen=True)
class PaymentKpis:
    per_minute: float | None  # mean over the last complete minutes
    success_ratio: float | None
    trend: tuple[tuple[datetime, int], ...]
    by_category: dict[str, tuple[int, int, int]]  # category -> (succeeded, failed, amount)


def payment_kpis(snap: Snapshot, rate_minutes: int = 5, success_minutes: int = 15) -> PaymentKpis:
    """Rate over the last `rate_minutes` complete minutes before the newest payment, success
    ratio over the last `success_minutes`, the per-minute trend and the hour by category."""
    totals: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in snap.payments:
        totals[p.bucket][0] += p.succeeded
        totals[p.bucket][1] += p.failed
        c = by_category[p.category]
        c[0] += p.succeeded
        c[1] += p.failed
        c[2] += p.amount_vnd
    newest = snap.newest.get("payments")
    current = newest.replace(second=0, microsecond=0) if newest else None
    complete = sorted(b for b in totals if current is not None and b < current)
    rate_buckets = complete[-rate_minutes:]
    per_minute = (sum(sum(totals[b]) for b in rate_buckets) / len(rate_buckets)
                  if rate_buckets else None)
    window = [b for b in totals if current is not None
              and b >= current - timedelta(minutes=success_minutes)]
    succeeded = sum(totals[b][0] for b in window)
    return PaymentKpis(per_minute, ratio(succeeded, sum(sum(totals[b]) for b in window)),
                       tuple((b, sum(totals[b])) for b in sorted(totals)),
                       {k: tuple(v) for k, v in sorted(by_category.items())})


@dataclass(frozen=True)
class PortalState:
    portal_code: str
    requests_per_minute: int
    error_ratio: float | None
    p95_latency_ms: float | None


def portal_states(snap: Snapshot) -> tuple[PortalState, ...]:
    """Each portal's newest complete minute (the newest partial one if that is all there is)."""
    by_portal: dict[str, list] = defaultdict(list)
    for m in snap.portal:
        by_portal[m.portal_code].append(m)
    out = []
    for code, minutes in sorted(by_portal.items()):
        m = minutes[-2] if len(minutes) > 1 else minutes[-1]
        out.append(PortalState(code, m.requests, ratio(m.errors, m.requests), m.p95_latency_ms))
    return tuple(out)


def alert_unit(alert: Alert, province: Province) -> str | None:
    """The unit an alert is about, from its labels (unit, hospital or link)."""
    labels = alert.labels or {}
    if labels.get("unit"):
        return str(labels["unit"])
    for h in province.hospitals:
        if labels.get("hospital") == h.code or labels.get("link_id") == h.link_id:
            return h.unit
    return None


def unit_severity(alerts: tuple[Alert, ...], province: Province) -> dict[str, str]:
    """Unit -> its worst active, unsilenced alert's severity (units without one are absent)."""
    worst: dict[str, str] = {}
    for a in alerts:
        if a.state not in ("firing", "flapping") or a.silenced_by is not None:
            continue
        unit = alert_unit(a, province)
        if unit and SEVERITY_RANK[a.severity] > SEVERITY_RANK.get(worst.get(unit, ""), 0):
            worst[unit] = a.severity
    return worst


def unit_positions(province: Province, pad: float = 0.06) -> dict[str, tuple[float, float]]:
    """Unit -> (left, top) in percent of a box, from lat/lon (equirectangular: fine at this
    scale), so the units sit where they are without fetching any map tiles."""
    lats = [u.lat for u in province.units]
    lons = [u.lon for u in province.units]
    span_lat = (max(lats) - min(lats)) or 1.0
    span_lon = (max(lons) - min(lons)) or 1.0
    inner = 1 - 2 * pad
    return {u.code: (round(100 * (pad + inner * (u.lon - min(lons)) / span_lon), 2),
                     round(100 * (pad + inner * (max(lats) - u.lat) / span_lat), 2))
            for u in province.units}


def short_name(name: str) -> str:
    """A unit's name without its kind ("Phường Hạc Thành" -> "Hạc Thành", "Nga Son commune"
    -> "Nga Son"), to keep the map's labels short."""
    for prefix in ("Phường ", "Xã ", "Đặc khu "):
        name = name.removeprefix(prefix)
    for suffix in (" ward", " commune", " special zone"):
        name = name.removesuffix(suffix)
    return name


# Sizes in percent of the map box (about 800 x 300 px on a 1920 x 1080 wall, labels at
# 0.75vw; see 10-wall.css): a label's width per character and its height, a dot's size.
LABEL_CHAR_WIDTH = 1.0
LABEL_HEIGHT = 5.6
DOT_WIDTH, DOT_HEIGHT = 2.5, 5.6


def label_sides(positions: dict[str, tuple[float, float]],
                names: dict[str, str]) -> dict[str, str]:
    """Unit -> "right", "left", "below" or "above": the side of its dot its label goes on,
    so that labels overlap each other and other dots as little as possible (greedy, west to
    east; on a tie the earlier side in that order)."""
    Box = tuple[float, float, float, float]

    def box(code: str, side: str) -> Box:
        x, y = positions[code]
        width = len(names[code]) * LABEL_CHAR_WIDTH
        if side in ("right", "left"):
            x0 = x + DOT_WIDTH / 2 if side == "right" else x - DOT_WIDTH / 2 - width
            return x0, y - LABEL_HEIGHT / 2, x0 + width, y + LABEL_HEIGHT / 2
        y0 = y + DOT_HEIGHT / 2 if side == "below" else y - DOT_HEIGHT / 2 - LABEL_HEIGHT
        return x - width / 2, y0, x + width / 2, y0 + LABEL_HEIGHT

    def overlap(a: Box, b: Box) -> float:
        return (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
                * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))

    dots = {c: (x - DOT_WIDTH / 2, y - DOT_HEIGHT / 2, x + DOT_WIDTH / 2, y + DOT_HEIGHT / 2)
            for c, (x, y) in positions.items()}
    placed: dict[str, Box] = {}
    sides: dict[str, str] = {}
    for code in sorted(positions, key=lambda c: positions[c]):
        def cost(side: str, code: str = code) -> float:
            b = box(code, side)
            # beyond the map's edge (the panel clips it)
            spill = (max(0.0, -b[0]) + max(0.0, b[2] - 100)
                     + max(0.0, -b[1]) + max(0.0, b[3] - 100))
            return (sum(overlap(b, o) for o in placed.values())
                    + sum(overlap(b, d) for c, d in dots.items() if c != code) + 10 * spill)
        sides[code] = min(("right", "left", "below", "above"), key=cost)
        placed[code] = box(code, sides[code])
    return sides


def latest_run(snap: Snapshot) -> ReplayRun | None:
    return snap.replay_runs[0] if snap.replay_runs else None


def replay_clock(snap: Snapshot, wall_now: datetime) -> datetime:
    """The "now" of a replay wall: the event time the replay has reached (its newest event
    sent), so freshness is judged in the replay's own time; the wall clock without a run."""
    run = latest_run(snap)
    if run is not None and run.last_event_at is not None:
        return run.last_event_at
    return wall_now
