"""The sink on the real database: one row per event, whatever is redelivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from ioc.province import load_province
from simulators.generator import ProvinceSimulator, Rates
from streams.sink import DeadLetter, EventSink

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam: working hours


def _events(settings, minutes: int = 5):
    sim = ProvinceSimulator(load_province(settings.province_file), seed=7,
                            rates=Rates(multiplier=5))
    return [o.event for o in sim.events_between(START, START + timedelta(minutes=minutes))]


def _counts(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        return {feed: rows for feed, rows, _ in conn.execute("SELECT * FROM feed_stats")}


def test_redelivered_batches_are_stored_once(migrated):
    events = _events(migrated)
    assert len(events) > 500
    url = role_url(migrated.database_url, WRITER_ROLE, None)

    async def scenario() -> list[dict[str, int]]:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            first = await sink.write(events[:400])
            # a redelivery overlapping the first batch, with duplicates inside the batch too
            second = await sink.write(events[200:] + events[300:350])
            third = await sink.write(events)
            return [first, second, third]
        finally:
            await sink.close()

    first, second, third = asyncio.run(scenario())
    assert sum(first.values()) == 400
    assert sum(second.values()) == len(events) - 400
    assert sum(third.values()) == 0
    expected: dict[str, int] = {}
    for e in events:
        expected[e.feed] = expected.get(e.feed, 0) + 1
    assert _counts(migrated) == {**{"portal": 0, "telemedicine": 0, "payments": 0}, **expected}


def test_aggregates_are_exact_after_redelivery_and_late_events(migrated):
    events = _events(migrated, minutes=10)
    payments = [e for e in events if e.feed == "payments"]
    url = role_url(migrated.database_url, WRITER_ROLE, None)
    late, on_time = payments[:50], payments[50:]

    async def scenario() -> None:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            await sink.write(on_time)
            await sink.write(on_time[:100])  # redelivery
            await sink.write(late)           # late, out-of-order events of earlier buckets
        finally:
            await sink.close()

    asyncio.run(scenario())
    with connect(migrated.database_url, migrated.db_schema) as conn:
        succeeded, failed, amount = conn.execute(
            "SELECT sum(succeeded), sum(failed), sum(amount_vnd) FROM payments_1m").fetchone()
    assert succeeded == sum(p.data.status == "succeeded" for p in payments)
    assert failed == sum(p.data.status == "failed" for p in payments)
    assert amount == sum(p.data.amount_vnd for p in payments if p.data.status == "succeeded")


def test_dead_letters_are_kept_once_with_their_source(migrated):
    url = role_url(migrated.database_url, WRITER_ROLE, None)
    dead = [DeadLetter("t.portal", 1, 42, "portal", "undecodable: bad", b"\xff\x00")]

    async def scenario() -> None:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            await sink.write([], dead)
            await sink.write([], dead)
        finally:
            await sink.close()

    asyncio.run(scenario())
    with connect(migrated.database_url, migrated.db_schema) as conn:
        rows = conn.execute("SELECT topic, kafka_partition, kafka_offset, reason, raw"
                            " FROM dead_letters").fetchall()
    assert rows == [("t.portal", 1, 42, "undecodable: bad", b"\xff\x00")]
