"""The sink on the real database: one row per event, whatever is redelivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from proof.harness import make_events
from streams.sink import DeadLetter, EventSink

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam: working hours


def _events(settings, minutes: int = 5):
    # five events per second of event time, so batches span several minute buckets
    now = START + timedelta(hours=1)
    return [contract.decode(raw, feed, now) for feed, _, raw in make_events(
        minutes * 300, seed=7, start=START, step=timedelta(milliseconds=200))]


def _counts(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        return {feed: rows for feed, rows, _ in conn.execute("SELECT * FROM feed_stats")}


def test_redelivered_batches_are_stored_once(migrated):
    events = _events(migrated)
    assert len(events) > 500
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)

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
    assert first.stored == 400
    assert second.stored == len(events) - 400
    assert third.stored == 0
    expected: dict[str, int] = {}
    for e in events:
        expected[e.feed] = expected.get(e.feed, 0) + 1
    assert _counts(migrated) == {**{"portal": 0, "telemedicine": 0, "payments": 0}, **expected}
    received = sum(e.event_type == "dossier.received" for e in events)
    resolved = sum(e.event_type == "dossier.resolved" for e in events)
    with connect(migrated.database_url, migrated.db_schema) as conn:
        kept = conn.execute(
            "SELECT event_type, count(*) FILTER (WHERE centre_code = unit_code),"
            " count(*) FILTER (WHERE digitised AND payment = 'none' AND e_result IS NULL),"
            " count(*) FILTER (WHERE e_result AND digitised IS NULL AND payment IS NULL),"
            " count(*) FROM dossier_events GROUP BY 1 ORDER BY 1").fetchall()
    # the receiving centre is kept on both; what Decision 766 counts, each on its own event
    assert received > 0 and resolved > 0
    assert kept == [("received", received, received, 0, received),
                    ("resolved", resolved, 0, resolved, resolved)]


def test_aggregates_are_exact_after_redelivery_and_late_events(migrated):
    events = _events(migrated, minutes=10)
    payments = [e for e in events if e.feed == "payments"]
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
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
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
    dead = [DeadLetter("t.portal", 1, 42, "portal", "undecodable: bad", b"\xff\x00")]

    async def scenario() -> list[list[DeadLetter]]:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            return [(await sink.write([], dead)).new_dead, (await sink.write([], dead)).new_dead]
        finally:
            await sink.close()

    first, again = asyncio.run(scenario())
    assert (first, again) == (dead, [])  # only the first write asks for it to be published
    with connect(migrated.database_url, migrated.db_schema) as conn:
        rows = conn.execute("SELECT topic, kafka_partition, kafka_offset, reason, raw"
                            " FROM dead_letters").fetchall()
    assert rows == [("t.portal", 1, 42, "undecodable: bad", b"\xff\x00")]


def test_dead_letters_not_published_are_found_by_the_sweep_until_marked(migrated):
    """The broker refused a letter's publish: it stays unpublished in the table, the worker's
    sweep finds it (only for the partitions it holds), publishes it and marks it."""
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
    held, other = ("t.portal", 1), ("t.portal", 2)
    dead = [DeadLetter("t.portal", 1, 42, "portal", "undecodable: bad", b"\xff\x00"),
            DeadLetter("t.portal", 1, 43, "portal", "oversize: 70000 bytes", b"{}"),
            DeadLetter("t.portal", 2, 7, "portal", "missing event_type", b"{}")]

    async def scenario():
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            await sink.write([], dead)
            fresh = await sink.unpublished([held, other], older_than=60)  # too young yet
            found = await sink.unpublished([held], older_than=0)
            await sink.mark_published(found[:1])
            left = await sink.unpublished([held, other], older_than=0)
            return fresh, found, left
        finally:
            await sink.close()

    fresh, found, left = asyncio.run(scenario())
    assert fresh == []
    assert found == dead[:2]  # oldest first, the held partition only
    assert left == dead[1:]
