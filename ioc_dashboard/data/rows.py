"""The rows the wall reads, one type each, and the snapshot that holds one read of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ioc.indicators import Scope
from ioc_dashboard.i18n import TZ


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
