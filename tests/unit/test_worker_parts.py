"""The worker is assembled from collaborators handed in (issue 40, item 2): its sinks, the
registry its metrics go to, the clock events are checked against. Nothing here connects:
the running worker is proved by tests/integration/test_worker.py."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from ioc.contract import FEEDS
from ioc.settings import Settings
from streams.app import Worker
from streams.sink import EventSink


def test_the_worker_takes_its_sinks_registry_and_clock(tmp_path):
    made: list[str] = []

    def sinks(part: str) -> EventSink:
        made.append(part)
        return EventSink(lambda: None)  # never connected: nothing is stored here

    registry = CollectorRegistry()
    settings = Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, topic_prefix="t1")
    moment = datetime(2026, 3, 2, 8, tzinfo=UTC)
    worker = Worker(settings, registry=registry, clock=lambda: moment, sinks=sinks)
    assert made == [*FEEDS, "dlq-sweep"]  # one per feed (they write at once), one to sweep
    assert worker.sinks == dict(zip(FEEDS, worker.sinks.values(), strict=True))
    assert worker.clock() == moment and worker.max_age is not None
    assert set(worker.app.batch_handlers) == {settings.topic(feed) for feed in FEEDS}
    names = {metric.name for metric in registry.collect()}
    assert {"ioc_events_stored", "ioc_consumer_lag"} <= names  # its metrics, in that registry
    replay = Worker(settings, registry=CollectorRegistry(), live=False, sinks=sinks)
    assert replay.max_age is None  # a replay takes recordings of any age
