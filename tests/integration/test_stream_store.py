"""BatchStore on the real database: events it refuses are isolated, outages are retried."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from proof.harness import make_events
from streams.sink import DeadLetter, EventSink
from streams.store import BatchStore, Decoded

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def _decoded(raws: list[tuple[str, bytes, bytes]], topic_prefix: str) -> list[Decoded]:
    out = []
    for offset, (feed, _, raw) in enumerate(raws):
        event = contract.decode(raw, feed, NOW)
        if event.event_id.startswith("too-big"):
            # what the database refuses though a decoder let it through (a contract of an
            # earlier version, or one looser than a column): requests beyond the integer
            # column. Today's contract refuses it first, so it is put in after decoding.
            event = event.model_copy(update={"data": event.data.model_copy(
                update={"requests": 3_000_000_000})})
        out.append(Decoded(event, f"{topic_prefix}.{feed}", 0, offset, raw))
    return out


def _overflowing_portal_health(offset: int) -> bytes:
    return json.dumps({
        "event_id": f"too-big-{offset:06d}", "schema_version": 1,
        "occurred_at": (NOW - timedelta(minutes=1)).isoformat(), "unit_codes": ["u-1"],
        "feed": "portal", "event_type": "portal.health", "data": {
            "portal_code": "dvc", "window_seconds": 60, "requests": 3,
            "errors": 0, "p95_latency_ms": 120.0}}).encode()


def _count(settings, sql: str) -> int:
    with connect(settings.database_url, settings.db_schema) as conn:
        return conn.execute(sql).fetchone()[0]


def test_events_the_database_refuses_are_dead_lettered_and_the_rest_stored(migrated):
    raws = [r for r in make_events(600, seed=11, start=NOW - timedelta(minutes=5))
            if r[0] == "portal"]
    for position in (3, 100, 101):  # one alone, two neighbours
        raws.insert(position, ("portal", b"k", _overflowing_portal_health(position)))
    items = _decoded(raws, migrated.topic_prefix)
    refused_offsets = {i.offset for i in items if i.event.event_id.startswith("too-big")}
    invalid = DeadLetter(f"{migrated.topic_prefix}.portal", 0, 10_000, "portal",
                         "undecodable: x", b"\xff")
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)

    async def scenario():
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            store = BatchStore(sink, "portal")
            first = await store.store(items, [invalid])
            again = await store.store(items, [invalid])  # the batch redelivered
            return first, again
        finally:
            await sink.close()

    first, again = asyncio.run(scenario())
    assert {d.offset for d in first.refused} == refused_offsets
    assert all(d.reason.startswith("refused by the database: 22003") for d in first.refused)
    assert first.stored == len(items) - 3
    assert {d.offset for d in first.new_dead} == refused_offsets | {10_000}
    assert again.stored == 0 and again.new_dead == []  # nothing doubled, nothing re-published
    assert _count(migrated, "SELECT count(*) FROM dead_letters") == 4
    stored = _count(migrated, "SELECT count(*) FROM dossier_events") + _count(
        migrated, "SELECT count(*) FROM portal_health")
    assert stored == len(items) - 3


def test_a_lost_connection_is_retried_and_the_batch_stored_once(migrated):
    raws = make_events(300, seed=12, start=NOW - timedelta(minutes=5))
    items = [Decoded(contract.decode(raw, feed, NOW), "t", 0, n, raw)
             for n, (feed, _, raw) in enumerate(raws) if feed == "payments"]
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
    retries: list[str] = []

    async def scenario():
        sink = EventSink(lambda: connect_async(url, migrated.db_schema,
                                               application_name="store-test"))
        store = BatchStore(sink, "payments", sleep=lambda s: asyncio.sleep(0.01),
                           on_retry=lambda exc, delay: retries.append(type(exc).__name__))
        try:
            await store.store(items[:10], [])  # connected
            with connect(migrated.database_url, "public", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'store-test'")
            return await store.store(items, [])
        finally:
            await sink.close()

    outcome = asyncio.run(scenario())
    assert retries and outcome.failed_attempts == len(retries)
    assert outcome.stored == len(items) - 10 and outcome.refused == []
    assert _count(migrated, "SELECT count(*) FROM payments") == len(items)
