"""Record a simulated hour through the real broker, replay it onto other topics:
the broker holds exactly the recording, in order per key, both times."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer, TopicPartition

from ioc.contract import FEEDS
from ioc.db import connect
from ioc.status import high_watermarks
from simulators.recording import read_records
from tests.conftest import ioc_json, start_part, wait_until

pytestmark = pytest.mark.integration


def _ioc(settings, *args: str) -> dict:
    return ioc_json(settings, *args)


def _by_key(settings) -> dict[tuple[str, bytes], list[bytes]]:
    """Every message on the feed topics, grouped by (feed, key) in partition order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             enable_auto_commit=False)
    out: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    try:
        for feed in FEEDS:
            topic = settings.topic(feed)
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            ends = high_watermarks(consumer, tps)
            consumer.seek_to_beginning(*tps)
            reached = dict.fromkeys(tps, 0)
            while any(reached[tp] < ends[tp] for tp in tps):
                for tp, messages in consumer.poll(timeout_ms=1000).items():
                    for m in messages:
                        out[(feed, m.key)].append(m.value)
                        reached[tp] = m.offset + 1
    finally:
        consumer.close()
    return out


def _rows(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        return {feed: n for feed, n, _ in conn.execute("SELECT * FROM feed_stats")}


def _counts(recording) -> dict[str, int]:
    counts = dict.fromkeys(FEEDS, 0)
    for r in read_records(recording):
        counts[r.feed] += 1
    return counts


def test_record_then_replay_round_trip(settings, tmp_path):
    recording = tmp_path / "hour.jsonl.gz"
    sent = _ioc(settings, "simulate", "--seed", "5", "--start", "2026-03-02T09:00:00+07:00",
                "--speed", "max", "--duration", "1800", "--record", str(recording))
    expected: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    for r in read_records(recording):
        expected[(r.feed, r.key)].append(r.value)
    assert sum(map(len, expected.values())) == sent["events"] > 10_000
    assert _by_key(settings) == expected

    again = _ioc(settings, "replay", str(recording), "--speed", "max")
    replayed = settings.for_replay()
    assert again["events"] == sent["events"] and again["seed"] == 5
    assert again["topic_prefix"] == replayed.topic_prefix != settings.topic_prefix
    assert _by_key(replayed) == expected
    with connect(settings.database_url, replayed.db_schema) as conn:
        run = conn.execute("SELECT recording, seed, events_sent, finished_at IS NOT NULL, "
                           "first_event_at, last_event_at FROM replay_runs").fetchall()
    assert len(run) == 1 and run[0][:4] == (str(recording), 5, sent["events"], True)
    assert run[0][4].isoformat() == again["first_event_at"] < again["last_event_at"]


def test_replayed_data_never_mixes_with_live_data(migrated, tmp_path):
    recording = tmp_path / "ten-minutes.jsonl.gz"
    sent = _ioc(migrated, "simulate", "--seed", "8", "--speed", "max", "--duration", "600",
                "--start", "2026-03-02T09:00:00+07:00", "--record", str(recording))
    counts = _counts(recording)
    replayed = migrated.for_replay()
    live = start_part(migrated, "worker", "worker")
    replay_worker = start_part(migrated, "replay-worker", "worker", "--replay")
    try:
        wait_until(lambda: _rows(migrated) == counts, 90, what="live rows")
        for rebase in ((), ("--rebase",)):  # twice: the second replay replaces the first
            out = _ioc(migrated, "replay", str(recording), "--speed", "max", *rebase)
            assert out["events"] == sent["events"]
            wait_until(lambda: _rows(replayed) == counts, 90, what="replayed rows")
        assert _rows(migrated) == counts  # the live schema holds the live events only
        with connect(migrated.database_url, replayed.db_schema) as conn:
            newest = conn.execute("SELECT max(occurred_at) FROM link_heartbeats").fetchone()[0]
            runs = conn.execute("SELECT count(*) FROM replay_runs").fetchone()[0]
        assert newest.year == datetime.now(UTC).year and newest > datetime(2026, 3, 3, tzinfo=UTC)
        assert runs == 2
    finally:
        replay_worker.stop()
        live.stop()
