"""The worker through a database outage, and two workers sharing one stream."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from ioc.db import WRITER_ROLE, connect
from proof.harness import Producer, make_events, metric_value
from tests.conftest import free_port, start_part, wait_http, wait_until

pytestmark = pytest.mark.integration


def _send(settings, events) -> None:
    producer = Producer(settings.kafka_bootstrap)
    for feed, key, value in events:
        producer.send(settings.topic(feed), key, value)
    producer.flush()


def _stored(settings) -> int:
    with connect(settings.database_url, settings.db_schema) as conn:
        return int(conn.execute("SELECT sum(rows_stored) FROM feed_stats").fetchone()[0])


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()



def _events(n: int, seed: int):
    return make_events(n, seed=seed, start=datetime.now(UTC) - timedelta(minutes=5))


def test_a_database_outage_stalls_the_worker_visibly_and_it_resumes_losing_nothing(migrated):
    settings = migrated.with_(worker_stall_seconds=3.0)
    worker = start_part(settings, "worker", "worker")
    try:
        wait_http(f"http://127.0.0.1:{settings.worker_port}/healthz", 60, worker)
        _send(settings, _events(1000, seed=21))
        wait_until(lambda: _stored(settings) == 1000, 60, what="first events stored")

        with connect(settings.database_url, "public", autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {WRITER_ROLE} NOLOGIN")
            try:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE usename = %s", [WRITER_ROLE])
                _send(settings, _events(1500, seed=22))
                status, body = wait_until(
                    lambda: (lambda h: h if h[0] == 503 else None)(_health(settings.worker_port)),
                    30, what="/healthz 503 while the database refuses the writer")
                assert body["stalled"] and "nothing stored" in body["reasons"][0]
                text = _metrics(settings.worker_port)
                assert metric_value(text, "ioc_worker_stalled") == 1
                assert metric_value(text, "ioc_db_write_errors_total") > 0
                assert metric_value(text, "ioc_consumer_lag") > 0
                assert worker.exit_code() is None  # retrying, not crashing in a loop
                assert _stored(settings) == 1000
            finally:
                admin.execute(f"ALTER ROLE {WRITER_ROLE} LOGIN")
            back = time.monotonic()

        wait_until(lambda: _stored(settings) == 2500, 30, what="backlog stored after the outage")
        resumed_in = time.monotonic() - back
        assert resumed_in < 10, f"took {resumed_in:.1f} s to resume"
        wait_until(lambda: _health(settings.worker_port)[0] == 200, 15, what="healthy again")
        assert metric_value(_metrics(settings.worker_port), "ioc_worker_stalled") == 0
    finally:
        worker.stop()


def test_two_workers_in_one_group_share_the_partitions_and_store_each_event_once(migrated):
    first = migrated
    second = migrated.with_(worker_port=free_port())
    workers = [start_part(first, "worker-a", "worker"), start_part(second, "worker-b", "worker")]
    try:
        for s, w in zip((first, second), workers, strict=True):
            wait_http(f"http://127.0.0.1:{s.worker_port}/healthz", 60, w)

        def assigned() -> list[int] | None:
            # feed partitions each worker holds (Faust's leader topic aside)
            counts = [_metrics(s.worker_port).count(f'topic="{first.topic_prefix}.')
                      for s in (first, second)]
            return counts if all(counts) and sum(counts) == 12 else None

        wait_until(assigned, 60, what="both workers holding partitions (12 in all)")
        events = _events(4000, seed=23)
        _send(first, events)
        wait_until(lambda: _stored(first) == len(events), 60, what="all events stored")
        texts = [_metrics(s.worker_port) for s in (first, second)]
        consumed = [metric_value(t, "ioc_events_consumed_total") for t in texts]
        assert all(c > 0 for c in consumed), consumed  # both did some of the work
        assert sum(consumed) == len(events)
        assert sum(metric_value(t, "ioc_events_stored_total") for t in texts) == len(events)
    finally:
        for w in workers:
            w.stop()
