"""A simulated province: events of all three feeds for a span of (simulated) time.

Pure and deterministic for a given seed: `events_between(start, end)` returns what the
province's systems would have sent in that span, keyed for Kafka so that all events of
one entity (a link, a dossier, a unit's payments) keep their order on one partition.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ioc import contract as c
from ioc.calendar import WorkCalendar, load_calendar
from ioc.province import Province

HEARTBEAT_SECONDS = 5.0
PORTAL_HEALTH_SECONDS = 10.0
SPECIALTIES = ("noi-khoa", "ngoai-khoa", "nhi", "ung-buou", "tim-mach")


@dataclass(frozen=True)
class Outgoing:
    """One event to send: its feed, partition key and the event itself."""

    feed: str
    key: str
    event: c.Envelope


@dataclass
class Rates:
    """Events per second at a weekday working hour (scaled down outside them)."""

    dossiers_per_second: float = 0.08
    payments_per_second: float = 1.5
    consultations_per_second: float = 0.01
    multiplier: float = 1.0


@dataclass
class ProvinceSimulator:
    """Generates a normal day of a province, one time span after another."""

    province: Province
    seed: int = 1
    rates: Rates = field(default_factory=Rates)
    calendar: WorkCalendar = field(default_factory=load_calendar)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._next_heartbeat: dict[str, datetime] = {}
        self._next_health: dict[str, datetime] = {}
        self._open_dossiers: list[tuple[datetime, c.DossierReceived]] = []
        self._open_sessions: list[tuple[datetime, c.ConsultationStarted]] = []
        self._seq = 0

    # --- helpers -------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self.seed}-{self._seq}"

    def _event_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _activity(self, at: datetime) -> float:
        """Share of the working-hour rate at `at`: nights, weekends and holidays are quiet."""
        return 1.0 if self.calendar.is_working_time(at) else 0.1

    def _count(self, rate: float, seconds: float, at: datetime) -> int:
        expected = rate * self.rates.multiplier * seconds * self._activity(at)
        whole = int(expected)
        return whole + (1 if self.rng.random() < expected - whole else 0)

    def _at(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=self.rng.random() * seconds)

    @staticmethod
    def _envelope(event_id: str, at: datetime, unit: str) -> dict:
        return {"event_id": event_id, "schema_version": c.SCHEMA_VERSION,
                "occurred_at": at, "unit_codes": [unit]}

    # --- feeds ---------------------------------------------------------------------------
    def _heartbeats(self, start: datetime, end: datetime) -> list[Outgoing]:
        out = []
        for h in self.province.hospitals:
            link = h.link_id
            at = self._next_heartbeat.setdefault(
                link, start + timedelta(seconds=self.rng.random() * HEARTBEAT_SECONDS))
            while at < end:
                latency = max(5.0, self.rng.gauss(45, 10))
                out.append(Outgoing("telemedicine", link, c.LinkHeartbeat(
                    **self._envelope(self._event_id(), at, h.unit),
                    feed="telemedicine", event_type="link.heartbeat",
                    data=c.LinkHeartbeatData(
                        link_id=link, hospital_code=h.code, hub_code=h.hub, status="up",
                        latency_ms=round(latency, 1),
                        jitter_ms=round(abs(self.rng.gauss(4, 2)), 1),
                        loss_pct=round(max(0.0, self.rng.gauss(0.2, 0.2)), 2)))))
                at += timedelta(seconds=HEARTBEAT_SECONDS)
            self._next_heartbeat[link] = at
        return out

    def _consultations(self, start: datetime, end: datetime) -> list[Outgoing]:
        out = []
        seconds = (end - start).total_seconds()
        for _ in range(self._count(self.rates.consultations_per_second, seconds, start)):
            h = self.rng.choice(self.province.hospitals)
            at = self._at(start, seconds)
            data = c.ConsultationData(session_id=self._id("hc"), link_id=h.link_id,
                                      hospital_code=h.code, hub_code=h.hub,
                                      specialty=self.rng.choice(SPECIALTIES))
            started = c.ConsultationStarted(**self._envelope(self._event_id(), at, h.unit),
                                            feed="telemedicine",
                                            event_type="consultation.started", data=data)
            out.append(Outgoing("telemedicine", h.link_id, started))
            ends = at + timedelta(minutes=self.rng.uniform(10, 40))
            self._open_sessions.append((ends, started))
        for ends, started in [s for s in self._open_sessions if s[0] < end]:
            self._open_sessions.remove((ends, started))
            out.append(Outgoing("telemedicine", started.data.link_id, c.ConsultationEnded(
                **self._envelope(self._event_id(), ends, started.unit_codes[0]),
                feed="telemedicine", event_type="consultation.ended", data=started.data)))
        return out

    def _dossiers(self, start: datetime, end: datetime) -> list[Outgoing]:
        out = []
        seconds = (end - start).total_seconds()
        for _ in range(self._count(self.rates.dossiers_per_second, seconds, start)):
            proc = self.rng.choice(self.province.procedures)
            unit = self.rng.choice(self.province.units).code
            at = self._at(start, seconds)
            due = self.calendar.add_working_days(at, proc.working_days)
            received = c.DossierReceived(
                **self._envelope(self._event_id(), at, unit), feed="portal",
                event_type="dossier.received",
                data=c.DossierReceivedData(
                    dossier_id=self._id("hs"), procedure_code=proc.code,
                    agency_code=proc.agency, service_level=proc.service_level,
                    channel="online" if self.rng.random() < 0.9 else "in_person", due_at=due))
            out.append(Outgoing("portal", received.data.dossier_id, received))
            # most dossiers are resolved well before their due date; a few run late
            share = self.rng.uniform(0.02, 0.3) if self.rng.random() < 0.97 else 1.1
            self._open_dossiers.append((at + (due - at) * share, received))
        for resolves, rec in [d for d in self._open_dossiers if d[0] < end]:
            self._open_dossiers.remove((resolves, rec))
            out.append(Outgoing("portal", rec.data.dossier_id, c.DossierResolved(
                **self._envelope(self._event_id(), resolves, rec.unit_codes[0]),
                feed="portal", event_type="dossier.resolved",
                data=c.DossierResolvedData(
                    dossier_id=rec.data.dossier_id, procedure_code=rec.data.procedure_code,
                    agency_code=rec.data.agency_code, due_at=rec.data.due_at,
                    result="approved" if self.rng.random() < 0.95 else "rejected"))))
        return out

    def _portal_health(self, start: datetime, end: datetime) -> list[Outgoing]:
        out = []
        capital = self.province.units[0].code
        for portal in self.province.portals:
            at = self._next_health.setdefault(portal.code, start)
            while at < end:
                requests = self._count(40.0, PORTAL_HEALTH_SECONDS, at)
                out.append(Outgoing("portal", portal.code, c.PortalHealth(
                    **self._envelope(self._event_id(), at, capital), feed="portal",
                    event_type="portal.health",
                    data=c.PortalHealthData(
                        portal_code=portal.code, window_seconds=int(PORTAL_HEALTH_SECONDS),
                        requests=requests, errors=sum(self.rng.random() < 0.005
                                                      for _ in range(min(requests, 2000))),
                        p95_latency_ms=round(max(50.0, self.rng.gauss(400, 80)), 1)))))
                at += timedelta(seconds=PORTAL_HEALTH_SECONDS)
            self._next_health[portal.code] = at
        return out

    def _payments(self, start: datetime, end: datetime) -> list[Outgoing]:
        out = []
        seconds = (end - start).total_seconds()
        for _ in range(self._count(self.rates.payments_per_second, seconds, start)):
            unit = self.rng.choice(self.province.units).code
            ok = self.rng.random() < 0.99
            category = self.rng.choice(self.province.payment_categories)
            out.append(Outgoing("payments", unit, c.Payment(
                **self._envelope(self._event_id(), self._at(start, seconds), unit),
                feed="payments", event_type="payment.completed",
                data=c.PaymentData(
                    payment_id=self._id("tt"), category=category,
                    channel=self.rng.choice(self.province.payment_channels),
                    amount_vnd=int(self.rng.lognormvariate(12.5, 1.0)) + 1000,
                    status="succeeded" if ok else "failed",
                    failure_reason=None if ok else "gateway_timeout"))))
        return out

    def events_between(self, start: datetime, end: datetime) -> list[Outgoing]:
        """Every event that occurs in [start, end), in event-time order."""
        out = (self._heartbeats(start, end) + self._consultations(start, end)
               + self._dossiers(start, end) + self._portal_health(start, end)
               + self._payments(start, end))
        out.sort(key=lambda o: o.event.occurred_at)
        return out
