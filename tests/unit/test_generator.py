"""The simulated province: valid events, deterministic, with the rhythms of a real one."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ioc import contract
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR
from ioc.units import UnitsDataset
from simulators.generator import SLOT_SECONDS, ProvinceSimulator, poisson

MONDAY_9AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)     # 09:00 in Vietnam
VN = ZoneInfo("Asia/Ho_Chi_Minh")
THANH_HOA = load_province(PROVINCES_DIR / "thanh-hoa.yaml")


def _span(start: datetime, seconds: float, seed: int = 1, province=THANH_HOA, **kw):
    sim = ProvinceSimulator(province, seed=seed, **kw)
    return sim.events_between(start, start + timedelta(seconds=seconds))


def _decoded(records):
    return [contract.decode(r.value, r.feed, datetime.fromtimestamp(r.event_time + 1, UTC))
            for r in records]


def test_same_seed_same_bytes_and_another_seed_differs():
    a = _span(MONDAY_9AM, 3600, seed=5)
    assert a == _span(MONDAY_9AM, 3600, seed=5)
    assert [r.value for r in a] != [r.value for r in _span(MONDAY_9AM, 3600, seed=6)]


def test_events_do_not_depend_on_how_time_is_cut():
    # a live run (one call a second) sends what a --speed max run (big steps) sends
    whole = _span(MONDAY_9AM, 600, seed=4)
    sim = ProvinceSimulator(THANH_HOA, seed=4)
    pieces, t = [], MONDAY_9AM
    for step in (1, 0.5, 7, 33, 59, 120, 379.5):
        pieces += sim.events_between(t, t + timedelta(seconds=step))
        t += timedelta(seconds=step)
    assert pieces == whole


def test_every_event_is_valid_on_its_feed_with_its_key():
    records = _span(MONDAY_9AM, 3 * 3600)
    events = _decoded(records)
    kinds = Counter(e.event_type for e in events)
    assert set(kinds) == set(contract.EVENT_TYPES), kinds
    for r, e in zip(records, events, strict=True):
        assert r.event_time == pytest.approx(e.occurred_at.timestamp(), abs=1e-6)
        key = (e.unit_codes[0] if e.event_type == "payment.completed" else
               getattr(e.data, "link_id", None) or getattr(e.data, "portal_code", None)
               or e.data.dossier_id)
        assert r.key == key.encode()


def test_every_link_beats_every_few_seconds_around_the_clock():
    for start in (MONDAY_9AM, MONDAY_9AM + timedelta(hours=14)):  # 09:00 and 23:00
        beats = [r for r in _span(start, 600) if b'"link.heartbeat"' in r.value]
        assert {r.key for r in beats} == {h.link_id.encode() for h in THANH_HOA.hospitals}
        period = THANH_HOA.simulation.heartbeat_seconds
        assert len(beats) == pytest.approx(27 * 600 / period, abs=27)


def test_link_quality_is_realistic():
    beats = [e for e in _decoded(_span(MONDAY_9AM, 600)) if e.event_type == "link.heartbeat"]
    latencies = sorted(e.data.latency_ms for e in beats)
    assert 20 < latencies[len(latencies) // 2] < 120
    assert all(e.data.loss_pct < 2 and e.data.jitter_ms < 10 for e in beats)


def test_events_are_in_send_order_and_inside_the_span():
    records = _span(MONDAY_9AM, 3600)
    times = [r.send_time for r in records]
    assert times == sorted(times)
    assert times[0] >= MONDAY_9AM.timestamp()
    assert times[-1] < (MONDAY_9AM + timedelta(hours=1)).timestamp()


def _count(records, marker: bytes) -> int:
    return sum(marker in r.value for r in records)


def test_nights_weekends_and_tet_are_quieter_than_working_hours():
    day = _span(MONDAY_9AM, 3600)
    night = _span(MONDAY_9AM - timedelta(hours=12), 3600)          # 21:00 Sunday
    tet = _span(datetime(2026, 2, 18, 2, 0, tzinfo=UTC), 3600)      # Wednesday of Tết, 09:00
    for quiet in (night, tet):
        assert _count(quiet, b'"payments"') * 2 < _count(day, b'"payments"')
        assert _count(quiet, b'"dossier.received"') * 3 < _count(day, b'"dossier.received"')
    assert _count(night, b'"consultation.started"') == 0 < _count(day, b'"consultation.started"')


def test_a_working_day_matches_the_calibration():
    records = _span(datetime(2026, 3, 11, 17, 0, tzinfo=UTC), 86400)  # Thu 12/3 (VN)
    day = _decoded([r for r in records if b'"link.heartbeat"' not in r.value])
    kinds = Counter(e.event_type for e in day)
    sim = THANH_HOA.simulation
    assert kinds["dossier.received"] == pytest.approx(sim.dossiers_per_working_day, rel=0.1)
    # payments_per_day is a working day's volume before the monthly cycles; 12/3 is after
    # the utility bills' early-month peak
    from ioc.rhythms import load_rhythms
    rhythms, total = load_rhythms(), sum(sim.payment_mix.values())
    expected = sum(sim.payments_per_day * share / total * rhythms.month_factor(c, date(2026, 3, 12))
                   for c, share in sim.payment_mix.items())
    assert kinds["payment.completed"] == pytest.approx(expected, rel=0.05)
    assert kinds["consultation.started"] == pytest.approx(
        sim.consultations_per_hospital_per_day * 27, rel=0.35)
    # the wall's model of consultations running (its usual value until history is stored)
    # agrees with the simulator's, minute by minute over the day (consultation-minutes)
    sessions: dict[str, list[datetime]] = {}
    for e in day:
        if e.event_type.startswith("consultation."):
            sessions.setdefault(e.data.session_id, []).append(e.occurred_at)
    minutes = [datetime(2026, 3, 11, 17, 0, tzinfo=UTC) + timedelta(minutes=m)
               for m in range(24 * 60)]
    simulated = sum(start <= m < end for m in minutes for start, end in sessions.values())
    modelled = sum(rhythms.consultations_running(
        sim.consultations_per_hospital_per_day * 27, m.astimezone(VN), True) for m in minutes)
    assert simulated == pytest.approx(modelled, rel=0.35)
    at_ten = rhythms.consultations_running(81, datetime(2026, 3, 12, 10, 0), True)
    assert at_ten == pytest.approx(81 / rhythms.clinic_seconds * 60 * 25)  # rate × mean length
    received = [e for e in day if e.event_type == "dossier.received"]
    online = sum(e.data.channel == "online" for e in received) / len(received)
    assert online == pytest.approx(sim.online_share, abs=0.03)
    payments = [e for e in day if e.event_type == "payment.completed"]
    ok = sum(e.data.status == "succeeded" for e in payments) / len(payments)
    assert ok == pytest.approx(sim.payment_success_ratio, abs=0.01)


def test_dossiers_are_due_in_working_days_and_mostly_resolved_on_time():
    # a week from Monday: long enough for most dossiers of the first day to be resolved
    records = _span(datetime(2026, 3, 1, 17, 0, tzinfo=UTC), 7 * 86400, feeds=("portal",))
    events = _decoded([r for r in records if b'"portal.health"' not in r.value])
    received = {e.data.dossier_id: e for e in events if e.event_type == "dossier.received"}
    # dossiers received in the week (the others were already in progress at the start)
    resolved = [e for e in events if e.event_type == "dossier.resolved"
                and e.data.dossier_id in received]
    assert len(resolved) > 1000
    on_time = sum(e.occurred_at <= e.data.due_at for e in resolved) / len(resolved)
    assert on_time == pytest.approx(THANH_HOA.simulation.on_time_share, abs=0.02)
    for e in resolved:
        r = received[e.data.dossier_id]
        assert e.occurred_at > r.occurred_at and e.data.due_at == r.data.due_at
        assert e.data.due_at.astimezone(r.occurred_at.tzinfo).weekday() < 5


def test_dossiers_already_in_progress_resolve_from_the_first_day():
    # a province is not born at --start: its first working day resolves about as many
    # dossiers as it receives (dossiers received before the start, not sent, resolve after it)
    events = _decoded([r for r in _span(datetime(2026, 3, 11, 17, 0, tzinfo=UTC), 86400,
                                        feeds=("portal",)) if b'"portal.health"' not in r.value])
    kinds = Counter(e.event_type for e in events)
    assert kinds["dossier.resolved"] == pytest.approx(kinds["dossier.received"], rel=0.25)
    received = {e.data.dossier_id for e in events if e.event_type == "dossier.received"}
    earlier = [e for e in events if e.event_type == "dossier.resolved"
               and e.data.dossier_id not in received]
    on_time = sum(e.occurred_at <= e.data.due_at for e in earlier) / len(earlier)
    assert on_time == pytest.approx(THANH_HOA.simulation.on_time_share, abs=0.03)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_working_time_arithmetic_matches_the_calendar(seed):
    import random

    from ioc.calendar import WorkingTimeIndex, load_calendar

    cal, rng = load_calendar(), random.Random(seed)
    working = WorkingTimeIndex(cal)

    def slow_add_seconds(t: float, seconds: float) -> float:  # walk minute by minute
        at = t
        while not cal.is_working_time(datetime.fromtimestamp(at, UTC)):
            at = (math.floor(at / 60) + 1) * 60
        while seconds > 0:
            end = datetime.combine(datetime.fromtimestamp(at, cal.tz).date(), cal.end,
                                   cal.tz).timestamp()
            if at + seconds < end:
                return at + seconds
            seconds -= end - at
            at = end
            while not cal.is_working_time(datetime.fromtimestamp(at, UTC)):
                at += 60
        return at

    def slow_midnight_before(t: float, days: int) -> float:  # walk back day by day
        day = datetime.fromtimestamp(t, cal.tz).date()
        while days > 0:
            day -= timedelta(days=1)
            days -= cal.is_working_day(day)
        return datetime.combine(day, datetime.min.time(), cal.tz).timestamp()

    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for _ in range(200):
        t = start + rng.random() * 400 * 86400
        days = rng.randrange(1, 40)
        assert working.add_days(t, days) == pytest.approx(cal.add_working_days(  # to the µs
            datetime.fromtimestamp(t, cal.tz), days).timestamp(), abs=1e-5)
        seconds = rng.random() * 5 * working.day_seconds
        assert working.add_seconds(t, seconds) == pytest.approx(slow_add_seconds(t, seconds))
        back = rng.randrange(0, 45)
        assert working.midnight_days_before(t, back) == slow_midnight_before(t, back)


def test_utility_bills_come_early_in_the_month_and_tuition_at_term_start():
    def category_counts(start):
        return Counter(e.data.category
                       for e in _decoded(_span(start, 3600, feeds=("payments",))))
    early = category_counts(datetime(2026, 9, 3, 2, 0, tzinfo=UTC))   # Thu 3/9, 09:00
    late = category_counts(datetime(2026, 10, 22, 2, 0, tzinfo=UTC))  # Thu 22/10, 09:00
    assert early["electricity"] > 2 * late["electricity"]
    assert early["tuition"] > 4 * late["tuition"]


def test_rate_multiplier_scales_traffic_on_the_provinces_own_codes():
    base = _span(MONDAY_9AM, 600)
    big = _span(MONDAY_9AM, 600, multiplier=10)
    assert _count(big, b'"payments"') == pytest.approx(10 * _count(base, b'"payments"'), rel=0.2)
    beats = [r for r in big if b'"link.heartbeat"' in r.value]
    assert len({r.key for r in beats}) == 27
    assert len(beats) == pytest.approx(10 * _count(base, b'"link.heartbeat"'), rel=0.01)
    requests = {n: sum(e.data.requests for e in _decoded(span)
                       if e.event_type == "portal.health")
                for n, span in (("base", base), ("big", big))}
    assert requests["big"] == pytest.approx(10 * requests["base"], rel=0.1)
    # every event passes the worker's check of the province's codes
    codes = KnownCodes(THANH_HOA, UnitsDataset())
    assert all(codes.check(e) for e in _decoded(big))


def test_hung_yen_generates_its_own_units():
    hung_yen = load_province(PROVINCES_DIR / "hung-yen.yaml")
    units = {u.code for u in hung_yen.units}
    events = _decoded(_span(MONDAY_9AM, 600, province=hung_yen))
    assert events and all(e.unit_codes[0] in units for e in events)


def test_poisson_draws_have_the_right_mean():
    import random
    rng = random.Random(1)
    for lam in (0.2, 3.0, 50.0):
        mean = sum(poisson(rng, lam) for _ in range(20_000)) / 20_000
        assert mean == pytest.approx(lam, rel=0.05)
    assert poisson(rng, 0) == 0 and SLOT_SECONDS > 0


def test_dossiers_name_their_receiving_centre_and_communes_resolve_their_own():
    received = [e for e in _decoded(_span(MONDAY_9AM, 4 * 3600))
                if e.event_type == "dossier.received"]
    units = {u.code for u in THANH_HOA.units}
    commune = {p.code for p in THANH_HOA.procedures if p.agency == "ubnd-xa"}
    centres = Counter()
    for e in received:
        centre, unit = e.data.centre_code, e.unit_codes[0]
        if e.data.procedure_code in commune:
            assert e.data.agency_code == "ubnd-xa" and centre in units
            centres["own commune" if centre == unit else "another commune"] += 1
        else:
            assert centre in {"ttphvhcc", unit}
            centres["provincial" if centre == "ttphvhcc" else "citizen's commune"] += 1
    # every kind of reception happens on a morning of a working day
    assert set(centres) == {"own commune", "another commune", "provincial",
                            "citizen's commune"}, centres
    assert centres["own commune"] > 4 * centres["another commune"]


def test_dossiers_carry_what_decision_766_counts():
    events = _decoded(_span(MONDAY_9AM, 6 * 3600))
    received = [e.data for e in events if e.event_type == "dossier.received"]
    resolved = [e.data for e in events if e.event_type == "dossier.resolved"]
    sim = THANH_HOA.simulation
    assert len(received) > 400 and len(resolved) > 400
    assert {d.payment for d in received} == {"none", "online", "in_person"}
    fee = [d for d in received if d.payment != "none"]
    for share, hits, n in ((sim.digitised_share, sum(d.digitised for d in received), received),
                           (sim.fee_share, len(fee), received),
                           (sim.online_payment_share, sum(d.payment == "online" for d in fee),
                            fee),
                           (sim.e_result_share, sum(d.e_result for d in resolved), resolved)):
        sd = math.sqrt(share * (1 - share) / len(n))
        assert abs(hits / len(n) - share) < 4 * sd, (share, hits, len(n))
    # a resolution names the centre that received it: the provincial centre or a commune's
    units = {u.code for u in THANH_HOA.units}
    assert all(d.centre_code in units | {"ttphvhcc"} for d in resolved)
