"""The simulated province: valid events, deterministic, with working-hour rhythm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ioc import contract as c
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR
from simulators.generator import HEARTBEAT_SECONDS, ProvinceSimulator

MONDAY_9AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)     # 09:00 in Vietnam


def _sim(seed=1):
    return ProvinceSimulator(load_province(PROVINCES_DIR / "thanh-hoa.yaml"), seed=seed)


def _hour(sim, start):
    return sim.events_between(start, start + timedelta(hours=1))


def test_same_seed_same_events():
    a = [c.encode(o.event) for o in _hour(_sim(5), MONDAY_9AM)]
    b = [c.encode(o.event) for o in _hour(_sim(5), MONDAY_9AM)]
    assert a == b and a != [c.encode(o.event) for o in _hour(_sim(6), MONDAY_9AM)]


def test_every_event_is_valid_and_on_its_feed():
    for o in _hour(_sim(), MONDAY_9AM):
        raw = c.encode(o.event)
        assert c.decode(raw, o.feed, o.event.occurred_at) == o.event


def test_every_link_beats_every_few_seconds():
    events = _hour(_sim(), MONDAY_9AM)
    beats = [o for o in events if o.event.event_type == "link.heartbeat"]
    links = {o.key for o in beats}
    assert len(links) == 27
    assert len(beats) == 27 * int(3600 / HEARTBEAT_SECONDS)


def test_nights_are_quieter_than_working_hours():
    night = MONDAY_9AM - timedelta(hours=12)  # 21:00 Sunday in Vietnam
    day_payments = sum(o.feed == "payments" for o in _hour(_sim(), MONDAY_9AM))
    night_payments = sum(o.feed == "payments" for o in _hour(_sim(), night))
    assert night_payments * 4 < day_payments


def test_events_are_in_time_order_and_inside_the_span():
    events = _hour(_sim(), MONDAY_9AM)
    times = [o.event.occurred_at for o in events]
    assert times == sorted(times)
    assert times[0] >= MONDAY_9AM and times[-1] < MONDAY_9AM + timedelta(hours=1)
