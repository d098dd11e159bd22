"""Record a simulated hour through the real broker, replay it onto other topics:
the broker holds exactly the recording, in order per key, both times."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest
from kafka import KafkaConsumer, TopicPartition

from ioc.contract import FEEDS
from ioc.status import high_watermarks
from simulators.recording import read_records
from tests.conftest import REPO, child_env

pytestmark = pytest.mark.integration


def _ioc(settings, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "ioc.cli", *args], env=child_env(settings),
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


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


def test_record_then_replay_round_trip(settings, tmp_path):
    recording = tmp_path / "hour.jsonl.gz"
    sent = _ioc(settings, "simulate", "--seed", "5", "--start", "2026-03-02T09:00:00+07:00",
                "--speed", "max", "--duration", "1800", "--record", str(recording))
    expected: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    for r in read_records(recording):
        expected[(r.feed, r.key)].append(r.value)
    assert sum(map(len, expected.values())) == sent["events"] > 10_000
    assert _by_key(settings) == expected

    replayed = settings.with_(topic_prefix=settings.topic_prefix + "-replay")
    again = _ioc(replayed, "replay", str(recording), "--speed", "max")
    assert again == {"events": sent["events"], "recording": str(recording), "seed": 5}
    assert _by_key(replayed) == expected
