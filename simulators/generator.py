"""A simulated province: the events of all three feeds, deterministic for a seed.

Time advances in fixed 10-second slots aligned to the first start, so the events do not
depend on how the caller cuts time (a live run at speed 1 and a run at `--speed max` with
the same seed send the same bytes). Events are built as JSON text from templates rather
than through the pydantic models: the contract is checked by tests on every kind, and this
is what lets one core generate well over 100,000 events a second.

Rhythms: rates follow the province's calibrated volumes (`simulation:` in its file) spread
by the country's shapes (ioc/rhythms.yaml) over working hours, weekends, public
holidays and the month; due dates count working days. Incidents of a scenario change what
is generated while they are active.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ioc.calendar import WorkCalendar, WorkingTimeIndex, load_calendar
from ioc.contract import FEEDS, MAX_EVENT_BYTES, SCHEMA_VERSION
from ioc.province import Procedure, Province
from ioc.rhythms import Rhythms, load_rhythms, payment_mix
from simulators.scenarios import (
    Active,
    AgencyBacklog,
    BadDataBurst,
    FeedSilence,
    LinkDegraded,
    LinkDown,
    PaymentGatewayFailure,
    PortalOutage,
)

SLOT_SECONDS = 10.0
SPECIALTIES = ("noi-khoa", "ngoai-khoa", "nhi", "ung-buou", "tim-mach", "san-phu-khoa")
# median payment in VND by category (lognormal spread around it)
MEDIAN_AMOUNT = {"admin_fee": 50_000, "hospital_fee": 350_000, "tuition": 1_500_000,
                 "electricity": 600_000, "water": 150_000}


_EVENT_TIME = itemgetter(3)


class Record(NamedTuple):
    """One message as sent: feed (topic without prefix), key, value bytes, event time.

    `sent_at` is the simulated time it was sent when that differs from its event time
    (events held back by a silent producer and sent when it catches up); else None.
    """

    feed: str
    key: bytes
    value: bytes
    event_time: float
    sent_at: float | None = None

    @property
    def send_time(self) -> float:
        return self.event_time if self.sent_at is None else self.sent_at


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Clock:
    """RFC 3339 local-time text for Unix times (the hot path of generation).

    For zones without daylight saving (all of Vietnam) the text is assembled from a
    per-day prefix and a table of the day's 86,400 "HH:MM:SS"; otherwise via strftime.
    """

    _HMS = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60)
            for sec in range(60)]

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        offsets = {datetime(2026, month, 1, tzinfo=tz).utcoffset() for month in (1, 7)}
        self._fixed = int(offsets.pop().total_seconds()) if len(offsets) == 1 else None
        if self._fixed is not None:
            sign = "+" if self._fixed >= 0 else "-"
            hours, minutes = divmod(abs(self._fixed) // 60, 60)
            self._suffix = f"{sign}{hours:02d}:{minutes:02d}"
        self._days: dict[int, str] = {}
        self._cache: dict[int, str] = {}

    def iso(self, t: float) -> str:
        sec = math.floor(t)
        micro = int((t - sec) * 1_000_000)
        if self._fixed is None:
            return self._slow(sec, micro)
        day, sod = divmod(sec + self._fixed, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = datetime.fromtimestamp(
                day * 86400 - self._fixed, self.tz).strftime("%Y-%m-%dT")
        return f"{prefix}{self._HMS[sod]}.{micro:06d}{self._suffix}"

    def _slow(self, sec: int, micro: int) -> str:
        prefix = self._cache.get(sec)
        if prefix is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            local = datetime.fromtimestamp(sec, self.tz)
            off = local.strftime("%z")
            prefix = self._cache[sec] = local.strftime("%Y-%m-%dT%H:%M:%S.{}") + \
                f"{off[:3]}:{off[3:]}"
        return prefix.format(f"{micro:06d}")


class ProvinceSimulator:
    """Generates a province's feeds, one span of simulated time after another."""

    def __init__(self, province: Province, seed: int = 1, multiplier: float = 1.0,
                 incidents: Sequence[Active] = (), calendar: WorkCalendar | None = None,
                 rhythms: Rhythms | None = None, feeds: Collection[str] = FEEDS):
        self.province = province
        self.seed = seed
        self.multiplier = multiplier
        self.sim = province.simulation
        self.calendar = calendar or load_calendar()
        self.rhythms = rhythms or load_rhythms()
        self.tz = ZoneInfo(province.province.timezone)
        self.clock = _Clock(self.tz)
        self.working = WorkingTimeIndex(self.calendar)
        self.rng = random.Random(seed)
        self.incidents = list(incidents)
        self.feeds = frozenset(feeds)
        self._holiday = 1.0
        self._is_holiday = False
        self._origin: float | None = None
        self._slot = 0.0          # start of the next slot to generate
        self._ready: list[Record] = []  # generated, not yet returned (send time >= last end)
        self._due: list[tuple] = []     # heap of (time, seq, kind, payload) scheduled ahead
        self._held: dict[int, list[Record]] = defaultdict(list)  # silenced, to resend
        self._seq = 0
        self._setup_entities()

    # --- entities and templates --------------------------------------------------------
    def _setup_entities(self) -> None:
        p, rng, sim = self.province, self.rng, self.sim
        # the multiplier scales traffic, not the province: links beat more often and portals
        # see more requests, but every code stays one the province has (the worker refuses
        # others), so a load test exercises the same entities the wall and the rules know
        self.heartbeat_period = sim.heartbeat_seconds / max(1.0, self.multiplier)
        self.links = []
        for h in p.hospitals:
            link = h.link_id
            head = (f'{{"feed":"telemedicine","event_type":"link.heartbeat","schema_version":'
                    f'{SCHEMA_VERSION},"unit_codes":[{_q(h.unit)}],"data":{{"link_id":'
                    f'{_q(link)},"hospital_code":{_q(h.code)},"hub_code":{_q(h.hub)},')
            # links differ in quality: each draws its own base latency (at random, not
            # from distance: the province file has no network data)
            base = sim.link_latency_ms * rng.uniform(0.7, 1.6)
            phase = rng.random() * self.heartbeat_period
            self.links.append({"id": link, "key": link.encode(), "head": head,
                               "base": base, "phase": phase, "hospital": h.code,
                               "unit": h.unit, "hub": h.hub})
        self.portals = []
        capital = p.seat.code
        for portal in p.portals:
            head = (f'{{"feed":"portal","event_type":"portal.health","schema_version":'
                    f'{SCHEMA_VERSION},"unit_codes":[{_q(capital)}],"data":{{"portal_code":'
                    f'{_q(portal.code)},"window_seconds":{sim.portal_health_seconds},')
            self.portals.append({"code": portal.code, "key": portal.code.encode(),
                                 "head": head,
                                 "phase": rng.random() * sim.portal_health_seconds})
        # every commune-level unit equally likely: the 2025 arrangement formed units of
        # comparable population, and the dataset's only size figure, area, would overweight
        # the large, thinly peopled mountain communes (docs/simulation.md)
        self.unit_pool = [u.code for u in p.units]
        self.procedures = p.procedures
        self.commune_agencies = frozenset(a.code for a in p.agencies if a.level == "commune")
        self.centre = p.service_centre.code
        # the receiving centre is drawn from a stream of its own, so adding it changed no
        # other draw (the measured tables of docs/simulation.md stand)
        self.centre_rng = random.Random(f"{self.seed}-centre")
        # likewise what Decision 766's indicators count (digitised, fee, e-result)
        self.kpi_rng = random.Random(f"{self.seed}-indicators")
        self.channels = list(p.payment_channels)
        self.mix = payment_mix(p)
        self.categories = list(self.mix)

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self.seed}-{self._seq}"

    def _eid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    # --- time helpers --------------------------------------------------------------------
    def _local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def _snap_to_working_time(self, t: float) -> float:
        """`t` if it is working time, else a moment early in the next working period."""
        opening = self.working.next_opening(t)
        return t if opening == t else opening + self.rng.random() * 2 * 3600

    def _active(self, kind: type, t0: float, t1: float) -> list[Active]:
        return [a for a in self.incidents if isinstance(a.incident, kind)
                and a.start < t1 and a.end > t0]

    # --- one slot ------------------------------------------------------------------------
    def _generate_slot(self, s: float) -> list[Record]:
        e = s + SLOT_SECONDS
        local = self._local(s)
        hour, day = local.hour, local.date()
        working_day = self.calendar.is_working_day(day)
        self._is_holiday = day in self.calendar.holidays
        self._holiday = self.rhythms.holiday_volume if self._is_holiday else 1.0
        out: list[Record] = []
        if "telemedicine" in self.feeds:
            self._heartbeats(s, e, out)
            self._consultations(s, local, working_day, out)
        if "portal" in self.feeds:
            self._portal_health(s, e, hour, working_day, out)
            self._dossiers(s, hour, working_day, out)
        if "payments" in self.feeds:
            self._payments(s, hour, day, working_day, out)
        self._scheduled(e, out)
        self._bad_data(s, e, out)
        out = self._silence(s, e, out)
        if any(r.sent_at is not None for r in out):
            out.sort(key=Record.send_time.fget)  # type: ignore[attr-defined]
        else:
            out.sort(key=_EVENT_TIME)
        return out

    def _heartbeats(self, s: float, e: float, out: list[Record]) -> None:
        rnd, iso, eid = self.rng.random, self.clock.iso, self._eid
        period = self.heartbeat_period
        down = {a.target: a for a in self._active(LinkDown, s, e)}
        degraded = {a.target: a for a in self._active(LinkDegraded, s, e)}
        for link in self.links:
            t = link["next"]
            while t < e:
                hb = t + rnd() * 0.05  # a little network jitter on the send time
                lat = link["base"] * (1.0 + 0.3 * (rnd() + rnd() + rnd() - 1.5))
                jit = 2.0 + 4.0 * rnd()
                loss = 0.0 if rnd() < 0.9 else round(rnd() * 1.5, 2)
                status = "up"
                incident = down.get(link["hospital"])
                if incident is not None and incident.covers(hb):
                    if incident.incident.report == "silent":
                        t += period
                        continue
                    status = "down"
                incident = degraded.get(link["hospital"])
                if incident is not None and incident.covers(hb):
                    inc = incident.incident
                    lat = inc.latency_ms * (0.8 + 0.4 * rnd())
                    jit = inc.jitter_ms * (0.7 + 0.6 * rnd())
                    loss = round(inc.loss_pct * (0.5 + rnd()), 2)
                if status == "down":
                    body = '"status":"down"}'
                else:
                    body = (f'"status":"up","latency_ms":{lat:.1f},"jitter_ms":{jit:.1f},'
                            f'"loss_pct":{loss}}}')
                value = (f'{link["head"]}{body},"event_id":"{eid()}",'
                         f'"occurred_at":"{iso(hb)}"}}')
                out.append(Record("telemedicine", link["key"], value.encode(), hb))
                t += period
            link["next"] = t

    def _portal_health(self, s: float, e: float, hour: int, working_day: bool,
                       out: list[Record]) -> None:
        sim, rng = self.sim, self.rng
        window = sim.portal_health_seconds
        share = self.rhythms.hourly.portal_requests[hour] * 24  # 1.0 = an average hour
        if not working_day:
            share *= self.rhythms.off_day_volume.portal_requests * self._holiday
        outages = {a.target: a for a in self._active(PortalOutage, s, e)}
        for portal in self.portals:
            t = portal["next"]
            while t < e:
                requests = poisson(rng, sim.portal_requests_per_second * self.multiplier
                                   * share * window)
                err_ratio, p95 = sim.portal_error_ratio, max(80.0, rng.gauss(420, 90))
                incident = outages.get(portal["code"])
                if incident is not None and incident.covers(t):
                    err_ratio = incident.incident.error_ratio
                    p95 = incident.incident.p95_latency_ms * (0.85 + 0.3 * rng.random())
                errors = min(requests, poisson(rng, requests * err_ratio))
                value = (f'{portal["head"]}"requests":{requests},"errors":{errors},'
                         f'"p95_latency_ms":{p95:.1f}}},"event_id":"{self._eid()}",'
                         f'"occurred_at":"{self.clock.iso(t)}"}}')
                out.append(Record("portal", portal["key"], value.encode(), t))
                t += window
            portal["next"] = t

    def _dossier_rates(self, hour: int, working_day: bool) -> tuple[float, float]:
        """Dossiers an hour received online and at the desk, at this local hour and day."""
        return self.rhythms.dossiers_in_hour(self.sim.dossiers_per_working_day * self.multiplier,
                                             self.sim.online_share, hour, working_day)

    def _dossiers(self, s: float, hour: int, working_day: bool, out: list[Record]) -> None:
        rng = self.rng
        online, desk = self._dossier_rates(hour, working_day)
        blocked = [a for a in self._active(PortalOutage, s, s + SLOT_SECONDS)
                   if a.incident.stops_online_dossiers]
        for channel, lam in (("online", online), ("in_person", desk)):
            for _ in range(poisson(rng, lam * SLOT_SECONDS / 3600)):
                t = s + rng.random() * SLOT_SECONDS
                if channel == "online" and any(a.covers(t) for a in blocked):
                    continue
                self._receive_dossier(t, channel, out)

    def _warm_up(self, t: float) -> None:
        """Dossiers already in progress at `t`: received before it (not sent), their
        resolutions scheduled after it, so the first simulated days resolve as many dossiers
        as a province in its steady state, not only the few received since the start.
        (Lean: at 63x a province this draws over a million past dossiers.)"""
        rng, cal, procedures, working = self.rng, self.calendar, self.procedures, self.working
        on_time_share = self.sim.on_time_share
        # a dossier may be open at t if received less than its working days + the late margin
        # (3 working days, one more for the time of day) before t
        opens = {p.working_days: working.midnight_days_before(t, p.working_days + 4)
                 for p in procedures}
        hour_start = min(opens.values())
        while hour_start < t:
            local = self._local(hour_start)
            rates = self._dossier_rates(local.hour, cal.is_working_day(local.date()))
            span = min(3600.0, t - hour_start)
            for lam in rates:
                for _ in range(poisson(rng, lam * span / 3600)):
                    at = hour_start + rng.random() * span
                    proc = procedures[int(rng.random() * len(procedures))]
                    if at < opens[proc.working_days]:
                        continue
                    due = working.add_days(at, proc.working_days)
                    on_time = rng.random() < on_time_share
                    if on_time and due <= t:
                        continue  # resolved before its due date, so before t
                    resolves = self._resolution(at, due, proc, on_time)
                    if resolves >= t:
                        unit = self.unit_pool[int(rng.random() * len(self.unit_pool))]
                        kpi = self.kpi_rng
                        channel = "online" if kpi.random() < self.sim.online_share \
                            else "in_person"
                        centre = self._receiving_centre(unit, proc, channel, kpi)
                        self._schedule(resolves, "resolve", (
                            self._id("hs"), unit, proc.code, proc.agency, self.clock.iso(due),
                            centre))
            hour_start += 3600.0

    def _receive_dossier(self, t: float, channel: str, out: list[Record]) -> None:
        """A dossier received at `t`, sent to `out`, its resolution scheduled."""
        rng = self.rng
        proc = self.procedures[int(rng.random() * len(self.procedures))]
        unit = self.unit_pool[int(rng.random() * len(self.unit_pool))]
        due = self.working.add_days(t, proc.working_days)
        dossier = self._id("hs")
        due_iso = self.clock.iso(due)
        centre = self._receiving_centre(unit, proc, channel)
        kpi, sim = self.kpi_rng, self.sim
        digitised = "true" if kpi.random() < sim.digitised_share else "false"
        payment = "none" if kpi.random() >= sim.fee_share else \
            "online" if kpi.random() < sim.online_payment_share else "in_person"
        value = (f'{{"feed":"portal","event_type":"dossier.received","schema_version":'
                 f'{SCHEMA_VERSION},"unit_codes":["{unit}"],"data":{{"dossier_id":"{dossier}",'
                 f'"procedure_code":"{proc.code}","agency_code":"{proc.agency}",'
                 f'"service_level":"{proc.service_level}","channel":"{channel}",'
                 f'"due_at":"{due_iso}","centre_code":"{centre}","digitised":{digitised},'
                 f'"payment":"{payment}"}},"event_id":"{self._eid()}",'
                 f'"occurred_at":"{self.clock.iso(t)}"}}')
        out.append(Record("portal", dossier.encode(), value.encode(), t))
        resolves = self._resolution(t, due, proc, rng.random() < self.sim.on_time_share)
        self._schedule(resolves, "resolve",
                       (dossier, unit, proc.code, proc.agency, due_iso, centre))

    def _receiving_centre(self, unit: str, proc: Procedure, channel: str,
                          rng: random.Random | None = None) -> str:
        """Where a dossier of a citizen of `unit` is received (Decree 118: at any centre of
        the province). Online, by the centre of the body that resolves it; in person, a
        commune procedure mostly at the citizen's own commune centre (9 in 10, else another
        commune's), a provincial one at the provincial centre or the citizen's commune
        centre, half and half. The shares are assumptions (no published figure;
        docs/simulation.md)."""
        commune = proc.agency in self.commune_agencies
        if channel == "online":
            return unit if commune else self.centre
        rng = rng or self.centre_rng
        draw = rng.random()
        if commune:
            return unit if draw < 0.9 else self.unit_pool[int(rng.random() * len(self.unit_pool))]
        return self.centre if draw < 0.5 else unit

    def _resolution(self, received: float, due: float, proc: Procedure, on_time: bool) -> float:
        """When a dossier received at `received` is resolved. Processing happens in working
        time: on time, a share of the statutory working time (and before the due moment);
        late, up to three more working days after the due date."""
        rng, working = self.rng, self.working
        day = working.day_seconds
        if on_time:
            resolves = working.add_seconds(received,
                                           proc.working_days * day * rng.uniform(0.02, 0.8))
            return max(received + 60, min(resolves, due - 60 * rng.uniform(1, 60)))
        return working.add_seconds(due, day * rng.uniform(0.05, 3))

    def _consultations(self, s: float, local: datetime, working_day: bool,
                       out: list[Record]) -> None:
        if not working_day or not self.rhythms.in_clinic_hours(local.time()):
            return
        rng = self.rng
        lam = (self.sim.consultations_per_hospital_per_day * len(self.links) * self.multiplier
               * SLOT_SECONDS / self.rhythms.clinic_seconds)
        shortest, longest = self.rhythms.consultation_minutes
        down = self._active(LinkDown, s, s + SLOT_SECONDS)
        for _ in range(poisson(rng, lam)):
            t = s + rng.random() * SLOT_SECONDS
            link = self.links[int(rng.random() * len(self.links))]
            if any(a.target == link["hospital"] and a.covers(t) for a in down):
                continue
            session = self._id("hc")
            specialty = SPECIALTIES[int(rng.random() * len(SPECIALTIES))]
            data = (f'"data":{{"session_id":"{session}","link_id":"{link["id"]}",'
                    f'"hospital_code":"{link["hospital"]}","hub_code":"{link["hub"]}",'
                    f'"specialty":"{specialty}"}}')
            out.append(self._consultation(t, "consultation.started", link, data))
            self._schedule(t + rng.uniform(shortest, longest) * 60, "end_session", (link, data))

    def _consultation(self, t: float, event_type: str, link: dict, data: str) -> Record:
        value = (f'{{"feed":"telemedicine","event_type":"{event_type}","schema_version":'
                 f'{SCHEMA_VERSION},"unit_codes":["{link["unit"]}"],{data},'
                 f'"event_id":"{self._eid()}","occurred_at":"{self.clock.iso(t)}"}}')
        return Record("telemedicine", link["key"], value.encode(), t)

    def _payments(self, s: float, hour: int, day, working_day: bool,
                  out: list[Record]) -> None:
        sim, rh, rng = self.sim, self.rhythms, self.rng
        rnd, iso, eid = rng.random, self.clock.iso, self._eid
        gateways = self._active(PaymentGatewayFailure, s, s + SLOT_SECONDS)
        units, channels = self.unit_pool, self.channels
        n_units, n_channels = len(units), len(channels)
        for category in self.categories:
            lam = (rh.payments_in_hour(sim.payments_per_day * self.multiplier
                                       * self.mix[category], category, day, hour)
                   * SLOT_SECONDS / 3600)
            if not working_day:
                lam *= rh.off_day_payments(category, self._is_holiday)
            mu = math.log(MEDIAN_AMOUNT.get(category, 200_000))
            for _ in range(poisson(rng, lam)):
                t = s + rnd() * SLOT_SECONDS
                unit = units[int(rnd() * n_units)]
                channel = channels[int(rnd() * n_channels)]
                success, reason = sim.payment_success_ratio, "insufficient_funds"
                for a in gateways:
                    if a.covers(t) and a.incident.channel in (None, channel):
                        success, reason = a.incident.success_ratio, "gateway_error"
                amount = int(math.exp(mu + 0.6 * rng.gauss(0, 1)) // 1000 * 1000) + 1000
                if rnd() < success:
                    tail = '"status":"succeeded"}'
                else:
                    tail = f'"status":"failed","failure_reason":"{reason}"}}'
                value = (f'{{"feed":"payments","event_type":"payment.completed",'
                         f'"schema_version":{SCHEMA_VERSION},"unit_codes":["{unit}"],'
                         f'"data":{{"payment_id":"{self._id("tt")}","category":"{category}",'
                         f'"channel":"{channel}","amount_vnd":{amount},{tail},'
                         f'"event_id":"{eid()}","occurred_at":"{iso(t)}"}}')
                out.append(Record("payments", unit.encode(), value.encode(), t))

    # --- scheduled events (resolutions, session ends) -------------------------------------
    def _schedule(self, t: float, kind: str, payload: tuple) -> None:
        self._seq += 1
        heapq.heappush(self._due, (t, self._seq, kind, payload))

    def _scheduled(self, e: float, out: list[Record]) -> None:
        while self._due and self._due[0][0] < e:
            t, _, kind, payload = heapq.heappop(self._due)
            if kind == "end_session":
                link, data = payload
                out.append(self._consultation(t, "consultation.ended", link, data))
                continue
            dossier, unit, procedure, agency, due_iso, centre = payload
            for a in self._active(AgencyBacklog, t, t + 1):
                if a.target == agency and a.covers(t):
                    # the agency is stuck: this one waits and is cleared after the incident
                    later = a.end + self.rng.random() * a.incident.recovery
                    self._schedule(self._snap_to_working_time(later), kind, payload)
                    break
            else:
                result = "approved" if self.rng.random() < self.sim.approval_share \
                    else "rejected"
                e_result = "true" if self.kpi_rng.random() < self.sim.e_result_share else "false"
                value = (f'{{"feed":"portal","event_type":"dossier.resolved","schema_version":'
                         f'{SCHEMA_VERSION},"unit_codes":["{unit}"],"data":{{"dossier_id":'
                         f'"{dossier}","procedure_code":"{procedure}","agency_code":"{agency}",'
                         f'"due_at":"{due_iso}","result":"{result}","centre_code":'
                         f'"{centre}","e_result":{e_result}}},"event_id":'
                         f'"{self._eid()}","occurred_at":"{self.clock.iso(t)}"}}')
                out.append(Record("portal", dossier.encode(), value.encode(), t))

    # --- incidents that act on whole records -------------------------------------------
    def _silence(self, s: float, e: float, out: list[Record]) -> list[Record]:
        silences = self._active(FeedSilence, s, e)
        for a in silences:
            key = id(a)
            kept = []
            for r in out:
                if r.feed == a.target and a.covers(r.send_time):
                    if a.incident.then == "resend":
                        self._held[key].append(r)
                else:
                    kept.append(r)
            out = kept
        for a in self.incidents:
            held = self._held.get(id(a))
            if held and s <= a.end < e + 1e-9:
                # the producer is back: what it held goes out at once, in its order
                out.extend(r._replace(sent_at=max(a.end, r.event_time)) for r in held)
                del self._held[id(a)]
        return out

    def _bad_data(self, s: float, e: float, out: list[Record]) -> None:
        for a in self._active(BadDataBurst, s, e):
            inc = a.incident
            lo, hi = max(s, a.start), min(e, a.end)
            for _ in range(poisson(self.rng, inc.per_second * (hi - lo))):
                t = lo + self.rng.random() * (hi - lo)
                kind = inc.kinds[int(self.rng.random() * len(inc.kinds))]
                out.append(Record(a.target, b"bad-" + kind.encode(),
                                  self.malformed(kind, a.target, t), t))

    def malformed(self, kind: str, feed: str, t: float) -> bytes:
        """One invalid event of `kind` (see scenarios.BAD_KINDS) for `feed`'s topic."""
        good = self._valid_sample(feed, t)
        body = json.loads(good)
        if kind == "not_json":
            return b"\xff\xfe{not json" + good[:20]
        if kind == "wrong_type":
            body["occurred_at"] = int(t)  # a time as a number, not RFC 3339 text
        elif kind == "missing_field":
            del body["data"]
        elif kind == "unknown_version":
            body["schema_version"] = 99
        elif kind == "future_time":
            body["occurred_at"] = self.clock.iso(t + 86_400)
        elif kind == "oversize":
            body["padding"] = "x" * (MAX_EVENT_BYTES + 1)
        elif kind == "wrong_feed":
            return self._valid_sample("payments" if feed != "payments" else "portal", t)
        elif kind == "unknown_type":
            body["event_type"] = "something.else"
        elif kind == "control_chars":
            body["unit_codes"] = ["bad\u0000unit"]
        return json.dumps(body, ensure_ascii=False).encode()

    def _valid_sample(self, feed: str, t: float) -> bytes:
        if feed == "telemedicine":
            link = self.links[0]
            data = (f'"data":{{"link_id":"{link["id"]}","hospital_code":"{link["hospital"]}",'
                    f'"hub_code":"{link["hub"]}","status":"up"}}')
            value = (f'{{"feed":"telemedicine","event_type":"link.heartbeat","schema_version":'
                     f'{SCHEMA_VERSION},"unit_codes":["{link["unit"]}"],{data},'
                     f'"event_id":"{self._eid()}","occurred_at":"{self.clock.iso(t)}"}}')
            return value.encode()
        if feed == "portal":
            portal = self.portals[0]
            value = (f'{portal["head"]}"requests":1,"errors":0,"p95_latency_ms":1.0}},'
                     f'"event_id":"{self._eid()}","occurred_at":"{self.clock.iso(t)}"}}')
            return value.encode()
        value = (f'{{"feed":"payments","event_type":"payment.completed","schema_version":'
                 f'{SCHEMA_VERSION},"unit_codes":["{self.unit_pool[0]}"],"data":{{'
                 f'"payment_id":"{self._id("tt")}","category":"{self.categories[0]}",'
                 f'"channel":"{self.channels[0]}","amount_vnd":1000,"status":"succeeded"}},'
                 f'"event_id":"{self._eid()}","occurred_at":"{self.clock.iso(t)}"}}')
        return value.encode()

    # --- the public API ------------------------------------------------------------------
    def records_until(self, end: float) -> list[Record]:
        """Every record sent before `end` (Unix seconds) not returned yet, in send order."""
        if self._origin is None:
            raise RuntimeError("call start(t) first")
        while self._slot < end:
            self._ready.extend(self._generate_slot(self._slot))
            self._slot += SLOT_SECONDS
        cut = 0
        for cut, r in enumerate(self._ready):  # noqa: B007 - the index is the result
            if r.send_time >= end:
                break
        else:
            cut = len(self._ready)
        out, self._ready = self._ready[:cut], self._ready[cut:]
        return out

    def start(self, t: float) -> None:
        """Begin at Unix time `t` (slots are aligned to it); again with the same `t`: nothing."""
        if self._origin == t:
            return
        self._origin = self._slot = t
        for source in self.links + self.portals:
            source["next"] = t + source["phase"]
        if "portal" in self.feeds:
            self._warm_up(t)

    def events_between(self, start: datetime, end: datetime) -> list[Record]:
        """Records sent in [start, end); the first call fixes the origin (must be contiguous)."""
        if self._origin is None:
            self.start(start.timestamp())
        return self.records_until(end.timestamp())

