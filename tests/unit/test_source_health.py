"""Each source's health, counted per minute of arrival (issue 41, item 5): who a Kafka record
names as its source, and what a batch adds to each minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ioc.source_health import SourceHealth, SourceTally, parameters, source_of, troubles

AT = datetime(2026, 3, 2, 2, 0, 30, tzinfo=UTC)


def test_a_record_names_its_source_in_a_header_or_is_counted_as_kafka():
    assert source_of([("ioc-source", b"bv-1")]) == "bv-1"
    assert source_of([("other", b"x"), ("ioc-source", b"prober")]) == "prober"
    assert source_of(None) == source_of([]) == "kafka"
    assert source_of([("ioc-source", b"")]) == "kafka"
    # not a source name (the dashboards' labels stay few and clean): counted as kafka
    assert source_of([("ioc-source", "Nguồn\x1b[31m".encode())]) == "kafka"
    assert source_of([("ioc-source", b"x" * 65)]) == "kafka"


def test_a_batch_adds_to_each_source_feed_and_minute_of_arrival():
    tally = SourceTally()
    tally.stored("bv-1", "telemedicine", AT, AT - timedelta(seconds=2))
    tally.stored("bv-1", "telemedicine", AT + timedelta(seconds=10), AT)
    tally.refused("bv-1", "telemedicine", AT + timedelta(seconds=20), "unknown_link")
    tally.stored("bv-1", "telemedicine", AT + timedelta(seconds=40), AT)  # the next minute
    tally.refused("motcua", "portal", AT, "invalid_field")
    minute = AT.replace(second=0)
    m = tally.minutes[("bv-1", "telemedicine", minute)]
    assert (m.events, m.refused, dict(m.reasons)) == (2, 1, {"unknown_link": 1})
    assert (m.delay_sum, m.delay_max) == (12_000.0, 10_000.0)
    assert m.last == AT + timedelta(seconds=20)
    assert tally.minutes[("bv-1", "telemedicine", minute + timedelta(minutes=1))].events == 1
    # an event from the future (a clock ahead) has no negative delay
    tally.stored("x", "payments", AT, AT + timedelta(seconds=5))
    assert tally.minutes[("x", "payments", minute)].delay_max == 0.0
    # rows in one order, so two workers adding to the same minutes never deadlock
    sources, feeds, minutes = parameters(tally)[:3]
    assert list(zip(sources, feeds, minutes, strict=True)) == sorted(tally.minutes)


def _health(**changes) -> SourceHealth:
    base = dict(source="motcua", last_arrival=AT, events=120, usual_events=100.0,
                usual_weeks=4, refused=0, reasons={}, delay_avg_ms=800.0, delay_max_ms=2000.0)
    return SourceHealth(**{**base, **changes})


def test_a_source_is_in_trouble_when_quiet_refusing_or_late():
    assert troubles(_health(), AT) == []
    # usually busy at this hour, silent 20 minutes: quiet (not after 10)
    assert troubles(_health(events=40), AT + timedelta(minutes=20)) == ["quiet"]
    assert troubles(_health(events=40), AT + timedelta(minutes=10)) == []
    # a usual hour from one week only, or a quiet usual hour, is no promise of traffic
    assert troubles(_health(usual_weeks=1), AT + timedelta(hours=2)) == []
    assert troubles(_health(usual_events=5.0), AT + timedelta(hours=2)) == []
    assert troubles(_health(last_arrival=None, events=0), AT) == ["quiet"]
    # refusing: over 5 % and at least 10 events
    assert troubles(_health(refused=9, events=10), AT) == []
    assert troubles(_health(refused=12, events=100), AT) == ["refusing"]
    assert _health(refused=12, events=100, reasons={"a": 2, "b": 10, "c": 2, "d": 1}
                   ).main_reasons() == [("b", 10), ("a", 2), ("c", 2)]
    # late: five minutes on average
    assert troubles(_health(delay_avg_ms=400_000.0), AT) == ["late"]
