"""Each source's health, counted per minute of arrival (issue 41, item 5): who a Kafka record
names as its source, and what a batch adds to each minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ioc.source_health import SourceTally, parameters, source_of

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
