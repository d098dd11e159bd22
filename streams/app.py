"""The Faust application: one agent per feed topic, validating and storing events in batches.

Offsets are committed only after rows are durable: every event of a batch holds an extra
reference on its Kafka message while the batch is written, and drops it only after the
database transaction commits. If the agent is cancelled mid-write (shutdown, rebalance),
the reference is never dropped, the offset is never marked done, and the batch is
redelivered to whoever owns the partition next; the idempotent sink makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import faust
from prometheus_client import CollectorRegistry, generate_latest

from ioc import contract
from ioc.db import WRITER_ROLE, connect_async, role_url
from ioc.errors import ContractError
from ioc.settings import Settings
from ioc.topics import FEED_PARTITIONS
from streams.metrics import StreamMetrics, dead_letter_reason_label
from streams.sink import DeadLetter, EventSink

log = logging.getLogger(__name__)

BATCH_MAX = 5000
BATCH_WITHIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


def writer_url(settings: Settings) -> str:
    assert settings.database_url, "the worker needs IOC_DATABASE_URL (ioc up sets it)"
    return role_url(settings.database_url, WRITER_ROLE, settings.writer_password)


def create_app(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> faust.App:
    """Build the worker's Faust app from settings; `registry` and `clock` are injectable."""
    assert settings.kafka_bootstrap, "the worker needs IOC_KAFKA_BOOTSTRAP (ioc up sets it)"
    registry = registry or CollectorRegistry()
    metrics = StreamMetrics(registry)
    app = faust.App(
        settings.consumer_group,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=FEED_PARTITIONS,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # Tansu holds every group join for half the session timeout (measured: 60 s -> 30 s,
        # 6 s -> 3 s). 6 s is Kafka's minimum group session and keeps joins at ~3 s.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        web_enabled=True,
        web_bind=settings.worker_host,
        web_port=settings.worker_port,
        web_host=settings.worker_host,
        datadir=str(settings.data_dir / "worker"),
        producer_linger_ms=5,
    )
    dlq = app.topic(settings.topic("deadletter"), value_serializer="raw", key_serializer="raw")
    # one sink (one connection) per feed: the agents write concurrently
    sinks = {feed: EventSink(lambda feed=feed: connect_async(
        writer_url(settings), settings.db_schema, application_name=f"ioc-worker-{feed}"))
        for feed in contract.FEEDS}

    newest: dict[str, float] = {}

    async def store(feed: str, good: list[contract.Envelope], dead: list[DeadLetter]) -> None:
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                inserted = await sinks[feed].write(good, dead)
                break
            except Exception as exc:  # any failure: keep the batch and retry, never drop it
                metrics.write_errors.labels(feed).inc()
                log.warning("%s: database write failed (%s); retrying in %.1f s",
                            feed, str(exc).strip().splitlines()[0] if str(exc).strip()
                            else type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        metrics.write_seconds.labels(feed).observe(time.perf_counter() - started)
        stored = sum(inserted.values())
        metrics.stored.labels(feed).inc(stored)
        metrics.duplicates.labels(feed).inc(len(good) - stored)
        if good:
            now = time.time()
            newest[feed] = max(newest.get(feed, 0.0), max(e.occurred_at for e in good).timestamp())
            metrics.newest_stored.labels(feed).set(newest[feed])
            for e in good:
                metrics.latency.labels(feed).observe(max(0.0, now - e.occurred_at.timestamp()))

    def make_agent(feed: str) -> None:
        topic = app.topic(settings.topic(feed), value_serializer="raw", key_serializer="raw",
                          partitions=FEED_PARTITIONS)

        async def agent(stream: faust.StreamT) -> None:
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
                for event in events:
                    event.message.incref()  # held until the batch is durable
                now = clock()
                good: list[contract.Envelope] = []
                dead: list[DeadLetter] = []
                for event in events:
                    msg = event.message
                    raw = msg.value if isinstance(msg.value, bytes) else b""
                    try:
                        good.append(contract.decode(raw, feed, now))
                    except ContractError as exc:
                        dead.append(DeadLetter(msg.topic, msg.partition, msg.offset, feed,
                                               str(exc), raw))
                metrics.consumed.labels(feed).inc(len(events))
                metrics.batch_size.labels(feed).observe(len(events))
                for d in dead:
                    metrics.dead_lettered.labels(feed, dead_letter_reason_label(d.reason)).inc()
                    fut = await dlq.send(key=feed.encode(), value=d.raw, headers=[
                        ("reason", d.reason.encode()), ("source_topic", d.topic.encode()),
                        ("source_partition", str(d.partition).encode()),
                        ("source_offset", str(d.offset).encode()),
                    ])
                    await fut
                await store(feed, good, dead)
                for event in events:
                    event.message.decref()
                metrics.last_batch.labels(feed).set(time.time())

        agent.__name__ = f"store_{feed}"
        app.agent(topic, name=f"ioc.store.{feed}")(agent)

    for feed in contract.FEEDS:
        make_agent(feed)

    @app.page("/metrics")
    async def metrics_page(web, request):  # noqa: ANN001 - Faust's signature
        # aiohttp wants the charset apart from the content type
        return web.bytes(generate_latest(registry), content_type="text/plain; version=0.0.4")

    @app.page("/healthz")
    async def healthz(web, request):  # noqa: ANN001
        ok = app.consumer is not None and not app.should_stop
        return web.json({"ok": ok}, status=200 if ok else 503)

    @app.task
    async def close_sink_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            for sink in sinks.values():
                await sink.close()

    return app
