"""The real Faust worker between the real broker and database."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition

from ioc import contract
from ioc.db import connect
from ioc.province import load_province
from simulators.generator import ProvinceSimulator, Rates
from simulators.producer import FeedProducer
from simulators.recording import to_records
from tests.conftest import REPO, child_env, start_part, wait_http, wait_until

pytestmark = pytest.mark.integration


def _simulated(settings, minutes: int = 3):
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    sim = ProvinceSimulator(load_province(settings.province_file), seed=3,
                            rates=Rates(multiplier=3))
    return sim.events_between(start, start + timedelta(minutes=minutes))


def _stats(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        rows = {f: n for f, n, _ in conn.execute("SELECT * FROM feed_stats")}
        rows["dead_letters"] = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    return rows


def _expected(outgoing, dead: int) -> dict[str, int]:
    counts = dict.fromkeys(contract.FEEDS, 0)
    for o in outgoing:
        counts[o.feed] += 1
    return {**counts, "dead_letters": dead}


def _bad_events(good: contract.Envelope) -> dict[str, bytes]:
    raw = contract.encode(good)
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = json.loads(raw)
    return {
        "undecodable": b"\xff\xfe not json",
        "missing event_type": json.dumps({k: v for k, v in body.items()
                                          if k != "event_type"}).encode(),
        "unknown schema version": json.dumps({**body, "schema_version": 9}).encode(),
        "data.": json.dumps({**body, "data": {**body["data"], "amount_vnd": "nhiều"}}).encode(),
        "in the future": json.dumps({**body, "occurred_at": future}).encode(),
        "oversize": b"{" + b" " * (contract.MAX_EVENT_BYTES + 1) + b"}",
    }


def test_simulated_feeds_are_stored_once_and_bad_events_dead_lettered(migrated, worker):
    outgoing = _simulated(migrated)
    payment = next(o.event for o in outgoing if o.feed == "payments")
    bad = _bad_events(payment)
    producer = FeedProducer(migrated, migrated.kafka_bootstrap)
    producer.send(to_records(outgoing))
    for raw in bad.values():
        producer.send_raw(migrated.topic("payments"), b"bad", raw)
    producer.flush()

    expected = _expected(outgoing, len(bad))
    wait_until(lambda: _stats(migrated) == expected, 60, what=f"stored counts {expected}")

    # every bad event is on the dead-letter topic with its reason and source
    consumer = KafkaConsumer(bootstrap_servers=migrated.kafka_bootstrap,
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    dlq = TopicPartition(migrated.topic("deadletter"), 0)
    consumer.assign([dlq])
    consumer.seek_to_beginning(dlq)
    letters = [m for m in consumer]
    consumer.close()
    assert len(letters) == len(bad)
    reasons = [dict(m.headers)["reason"].decode() for m in letters]
    for expected_reason in bad:
        assert any(expected_reason in r for r in reasons), (expected_reason, reasons)
    assert {dict(m.headers)["source_topic"].decode() for m in letters} == {
        migrated.topic("payments")}
    assert {m.value for m in letters} == set(bad.values())

    metrics = wait_http(f"http://127.0.0.1:{migrated.worker_port}/metrics").decode()
    stored = sum(float(line.split()[-1]) for line in metrics.splitlines()
                 if line.startswith("ioc_events_stored_total"))
    assert stored == len(outgoing)
    assert 'ioc_events_dead_lettered_total{feed="payments",reason="oversize"} 1.0' in metrics

    # ioc status --json reads the same figures, and the worker has committed everything
    def status():
        out = subprocess.run([sys.executable, "-m", "ioc.cli", "status", "--json"],
                             env=child_env(migrated), cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out)

    def settled():
        doc = status()
        return doc if all(f["consumer_lag"] == 0 for f in doc["feeds"].values()) else None

    doc = wait_until(settled, 30, what="consumer lag 0")
    assert {f: v["rows_stored"] for f, v in doc["feeds"].items()} == {
        f: expected[f] for f in contract.FEEDS}
    assert doc["dead_letters"] == len(bad)
    newest = max(o.event.occurred_at for o in outgoing if o.feed == "telemedicine")
    assert datetime.fromisoformat(doc["feeds"]["telemedicine"]["newest_event_at"]) == newest


def test_redelivery_after_a_restart_stores_nothing_twice(migrated, worker):
    outgoing = _simulated(migrated, minutes=2)
    producer = FeedProducer(migrated, migrated.kafka_bootstrap)
    producer.send(to_records(outgoing))
    producer.flush()
    expected = _expected(outgoing, 0)
    wait_until(lambda: _stats(migrated) == expected, 60, what="first delivery stored")

    # a producer retry after the worker restarted: the same events arrive again
    worker.stop()
    producer.send(to_records(outgoing))
    producer.flush()
    again = start_part(migrated, "worker-2", "worker")
    try:
        wait_http(f"http://127.0.0.1:{migrated.worker_port}/metrics", 60, again)

        def consumed() -> float:
            text = urllib.request.urlopen(
                f"http://127.0.0.1:{migrated.worker_port}/metrics", timeout=2).read().decode()
            return sum(float(line.split()[-1]) for line in text.splitlines()
                       if line.startswith("ioc_events_duplicate_total"))

        wait_until(lambda: consumed() == len(outgoing), 60, what="redelivered events consumed")
        assert _stats(migrated) == expected
    finally:
        again.stop()


def test_status_counts_every_unconsumed_event_as_lag(migrated):
    # Tansu's ListOffsets can under-report the end of a partition; status must not
    outgoing = _simulated(migrated, minutes=2)
    producer = FeedProducer(migrated, migrated.kafka_bootstrap)
    producer.send(to_records(outgoing))
    producer.flush()
    out = subprocess.run([sys.executable, "-m", "ioc.cli", "status", "--json"],
                         env=child_env(migrated), cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    lag = {f: v["consumer_lag"] for f, v in json.loads(out)["feeds"].items()}
    assert lag == {f: n for f, n in _expected(outgoing, 0).items() if f in contract.FEEDS}
