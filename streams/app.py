"""The Faust application: one agent per feed, validating and storing events in batches.

The path of a batch (see docs/performance.md for why it is not Faust's per-message path):
1. `BatchConsumer` (streams/consumer.py) polls Kafka and hands the records of one poll, per
   feed topic, to that feed's channel; a feed whose channel is full is paused alone
   (back-pressure) while the other feeds go on.
2. The feed's Faust agent takes the batch, decodes and validates every record against the
   event contract (`contract.decode`); invalid ones become dead letters with their reason
   and source topic/partition/offset.
3. `BatchStore` writes the valid events and the dead letters in one transaction, retrying
   database outages and bisecting out events the database refuses (streams/store.py).
4. Only after the commit: dead letters recorded for the first time are published to the
   dead-letter topic (so a redelivered batch does not publish them again), then the batch's
   offsets are acked and Faust's commit timer commits them. A crash before the ack means
   redelivery, which the idempotent sink turns into no-ops.

`Worker` assembles it from its collaborators (settings, metrics registry, clock, sinks);
`create_app` is what `ioc worker` runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import psycopg
from prometheus_client import CollectorRegistry, generate_latest

from ioc import contract
from ioc.db import connect_async, writer_url
from ioc.errors import ContractError, ServiceError
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.refusals import reason_label
from ioc.settings import Settings
from ioc.source_health import source_of
from ioc.topics import FEED_PARTITIONS
from ioc.units import UnitsDataset
from streams.consumer import BatchConsumer, BatchHandler, BatchTransport
from streams.health import StallDetector
from streams.metrics import LagCollector, StreamMetrics
from streams.sink import REFUSED_BY_DATABASE, DeadLetter, EventSink, Origin
from streams.store import BatchStore, Decoded, StoreOutcome

log = logging.getLogger(__name__)

# records per poll (all partitions together) and bytes per partition fetch: big enough that a
# write carries thousands of rows under load; at low rates a poll returns what has arrived
MAX_POLL_RECORDS = 10_000
MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024
CHANNEL_BATCHES = 2          # batches handed to a feed's agent before that feed is paused
HEALTH_INTERVAL_SECONDS = 1.0
DLQ_PUBLISH_TIMEOUT_SECONDS = 10.0
DLQ_SWEEP_SECONDS = 30.0  # how often unpublished dead letters are looked for, and their age



class WorkerApp(faust.App):
    """A Faust app whose consumer delivers batches per topic (`BatchTransport`)."""

    #: topic -> where one poll's records go (read by `BatchConsumer`)
    batch_handlers: dict[str, BatchHandler]

    def _new_transport(self):  # noqa: ANN202 - Faust's signature
        return BatchTransport(self.conf.broker_consumer, self)


def decode_records(records: Sequence[Any], feed: str, now: datetime,
                   max_age: timedelta | None = None, codes: KnownCodes | None = None,
                   ) -> tuple[list[Decoded], list[DeadLetter]]:
    """Validate raw Kafka records of `feed`; invalid ones become dead letters with the reason.
    `max_age`: the past limit of the live namespace (None: any age, as replays need).
    `codes`: the province's codes every event must name (None: not checked)."""
    good: list[Decoded] = []
    dead: list[DeadLetter] = []
    decode = contract.decode
    check = codes.check if codes is not None else (lambda e: e)
    for r in records:
        raw = r.value if isinstance(r.value, bytes) else b""
        origin = _origin(r, now)
        try:
            good.append(Decoded(check(decode(raw, feed, now, max_age)), r.topic,
                                r.partition, r.offset, raw, origin))
        except ContractError as exc:
            dead.append(DeadLetter(r.topic, r.partition, r.offset, feed, str(exc), raw, origin))
    return good, dead


def _origin(record: Any, now: datetime) -> Origin:
    """Who sent a record (its `ioc-source` header) and when it reached Kafka (its time:
    the producer's, or the broker's with LogAppendTime; `now` when it has none)."""
    stamp = getattr(record, "timestamp", None)
    arrived = datetime.fromtimestamp(stamp / 1000, UTC) if stamp and stamp > 0 else now
    return Origin(source_of(getattr(record, "headers", None)), arrived)


async def sweep_once(sweeper: EventSink, held: Sequence[tuple[str, int]],
                     publish: Callable[[str, list[DeadLetter], EventSink], Any]) -> int:
    """One pass of the dead-letter sweep over the (topic, partition)s this worker holds:
    the letters the broker refused before, published again by feed; how many. A database
    that cannot be reached, or fails, is tried again at the next pass: a timer that raised
    would stop the whole worker (it did, in a fault run on Apache Kafka: the database was
    down at two passes in a row and the second could not even connect)."""
    try:
        letters = await sweeper.unpublished(held, older_than=DLQ_SWEEP_SECONDS)
    except (psycopg.Error, ServiceError) as exc:
        log.warning("dead-letter sweep: %s", exc)
        return 0
    for feed in contract.FEEDS:
        mine = [d for d in letters if d.feed == feed]
        if mine:
            log.info("%s: publishing %d dead letters the broker refused before", feed, len(mine))
            await publish(feed, mine, sweeper)
    return len(letters)


def faust_app(settings: Settings, replication: int = 1) -> WorkerApp:
    """The worker's Faust app from settings; `replication`: the copies of Faust's own topics
    (`ensure_topics` says how many the cluster takes)."""
    assert settings.kafka_bootstrap, "the worker needs IOC_KAFKA_BOOTSTRAP (ioc up sets it)"
    app = WorkerApp(
        settings.consumer_group,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=FEED_PARTITIONS,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_max_poll_records=MAX_POLL_RECORDS,
        consumer_max_fetch_size=MAX_PARTITION_FETCH_BYTES,
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
        # Faust's own topics (its partition assignor's) as many copies as the feeds' topics:
        # with one copy on a three-broker cluster, the broker holding it stops rebalances
        topic_replication_factor=replication,
    )
    app.batch_handlers = {}
    return app


def writer_sinks(settings: Settings) -> Callable[[str], EventSink]:
    """Sinks on the database as the writer role, one connection each, named for `part`."""
    def sink(part: str) -> EventSink:
        return EventSink(lambda: connect_async(writer_url(settings), settings.db_schema,
                                               application_name=f"ioc-worker-{part}"))
    return sink


class Worker:
    """The stream processor: a Faust app (`app`) with an agent per feed that validates and
    stores its batches, publishes their dead letters and acks them; a timer that sweeps the
    dead letters the broker refused before, and one that looks at its own health (served at
    /healthz, with its metrics at /metrics).

    Collaborators are handed in: `registry` (its metrics), `clock` (the now events are
    checked against), `codes` (the province's codes, default: those of `IOC_PROVINCE`) and
    `sinks` (part name -> a sink: one per feed, since the agents write concurrently, and one
    for the sweep; default: the database as the writer role). `live`: live data has a past
    limit; a replay namespace takes recordings of any age.
    """

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), live: bool = True,
                 codes: KnownCodes | None = None, replication: int = 1,
                 sinks: Callable[[str], EventSink] | None = None):
        self.settings = settings
        self.clock = clock
        self.codes = codes or KnownCodes(load_province(settings.province_file), UnitsDataset())
        self.max_age = timedelta(days=settings.max_event_age_days) if live else None
        self.registry = registry or CollectorRegistry()
        self.metrics = StreamMetrics(self.registry)
        self.app = faust_app(settings, replication)
        self.dlq_topic = settings.topic("deadletter")
        sink = sinks or writer_sinks(settings)
        self.sinks = {feed: sink(feed) for feed in contract.FEEDS}
        # dead letters the broker refused at the time: published again by this worker for
        # the partitions it holds (so two workers never publish the same letter twice)
        self.sweeper = sink("dlq-sweep")
        self.stored_next: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset
        self.newest: dict[str, float] = {}
        self.detector = StallDetector(settings.worker_stall_seconds, time.time())
        for feed in contract.FEEDS:
            self._add_agent(feed)
        LagCollector(lambda: self.detector.last.lag, self.registry)
        self._add_services()

    # --- dead letters ---------------------------------------------------------------------

    async def publish_dead_letter(self, feed: str, d: DeadLetter) -> bool:
        try:
            await asyncio.wait_for(self.app.producer.send_and_wait(
                self.dlq_topic, feed.encode(), d.raw, None, None, [
                    ("reason", d.reason.encode()), ("source_topic", d.topic.encode()),
                    ("source_partition", str(d.partition).encode()),
                    ("source_offset", str(d.offset).encode()),
                ]), DLQ_PUBLISH_TIMEOUT_SECONDS)
            return True
        except Exception as exc:  # the letter is in the dead_letters table; go on
            self.metrics.dead_letter_publish_errors.labels(feed).inc()
            log.error("%s: dead letter %s[%d]@%d kept in the database, to be published by the "
                      "sweep: %s", feed, d.topic, d.partition, d.offset, exc)
            return False

    async def publish_dead_letters(self, feed: str, letters: Sequence[DeadLetter],
                                   sink: EventSink) -> None:
        # all at once: a burst of bad events costs one round trip to the broker, not one each
        sent = await asyncio.gather(*(self.publish_dead_letter(feed, d) for d in letters))
        try:
            await sink.mark_published([d for d, ok in zip(letters, sent, strict=True) if ok])
        except (psycopg.Error, ServiceError) as exc:  # published twice at worst, by the sweep
            log.warning("%s: could not note published dead letters: %s", feed, exc)

    async def sweep_dead_letters(self) -> None:
        held = [(tp.topic, tp.partition) for tp in self.app.consumer.assignment()
                if tp.topic != self.dlq_topic]
        await sweep_once(self.sweeper, held, self.publish_dead_letters)

    # --- one feed ---------------------------------------------------------------------------

    def account(self, feed: str, n: int, items: Sequence[Decoded], dead: Sequence[DeadLetter],
                outcome: StoreOutcome, seconds: float) -> None:
        metrics = self.metrics
        metrics.consumed.labels(feed).inc(n)
        metrics.batch_size.labels(feed).observe(n)
        metrics.write_seconds.labels(feed).observe(seconds)
        metrics.stored.labels(feed).inc(outcome.stored)
        metrics.duplicates.labels(feed).inc(len(items) - len(outcome.refused) - outcome.stored)
        metrics.refused.labels(feed).inc(len(outcome.refused))
        for d in (*dead, *outcome.refused):
            reason = ("refused_by_database" if d.reason.startswith(REFUSED_BY_DATABASE)
                      else reason_label(d.reason))
            metrics.dead_lettered.labels(feed, reason).inc()
        now = time.time()
        if items:
            self.newest[feed] = max(self.newest.get(feed, 0.0),
                                    max(i.event.occurred_at for i in items).timestamp())
            metrics.newest_stored.labels(feed).set(self.newest[feed])
            metrics.latency.observe_many(
                feed, [max(0.0, now - i.event.occurred_at.timestamp()) for i in items])
        metrics.last_batch.labels(feed).set(now)

    def ack(self, records: Sequence[Any]) -> None:
        consumer: BatchConsumer = self.app.consumer  # type: ignore[assignment]
        by_tp: dict[Any, list[int]] = {}
        for r in records:
            by_tp.setdefault((r.topic, r.partition), []).append(r.offset)
        for (topic, partition), offsets in by_tp.items():
            consumer.ack_offsets(consumer._new_topicpartition(topic, partition), offsets)
            self.stored_next[(topic, partition)] = offsets[-1] + 1

    def _add_agent(self, feed: str) -> None:
        app, settings = self.app, self.settings
        topic = app.topic(settings.topic(feed), value_serializer="raw", key_serializer="raw",
                          partitions=FEED_PARTITIONS)
        # registering the topic with the conductor makes the consumer subscribe to it; its
        # records then come to `handler` in batches instead of through the topic's channel
        app.topics.add(topic)
        channel = app.channel(maxsize=CHANNEL_BATCHES)
        # counted as they happen, so an outage shows while it lasts
        store = BatchStore(self.sinks[feed], feed, on_retry=lambda exc, delay:
                           self.metrics.write_errors.labels(feed).inc())

        busy = [False]  # the agent is storing a batch

        def has_room() -> bool:
            # batches waiting in the agent's queue, read from the queue itself: Faust clears
            # agent queues in a rebalance, so a count of our own would drift. No subscriber
            # yet (the agent not started): a put would go nowhere.
            queues = [sub.queue for sub in channel._subscribers]
            return bool(queues) and busy[0] + sum(q.qsize() for q in queues) < CHANNEL_BATCHES

        async def put(records: Sequence[Any]) -> None:
            await channel.put(records)

        app.batch_handlers[settings.topic(feed)] = BatchHandler(put, has_room)

        async def agent(stream: faust.StreamT) -> None:
            async for records in stream:
                busy[0] = True
                try:
                    items, dead = decode_records(records, feed, self.clock(), self.max_age,
                                                 self.codes)
                    started = time.perf_counter()
                    outcome = await store.store(items, dead)
                    seconds = time.perf_counter() - started
                    await self.publish_dead_letters(feed, outcome.new_dead, self.sinks[feed])
                    self.ack(records)
                    self.account(feed, len(records), items, dead, outcome, seconds)
                finally:
                    busy[0] = False

        agent.__name__ = f"store_{feed}"
        app.agent(channel, name=f"ioc.store.{feed}")(agent)

    # --- its own health ---------------------------------------------------------------------

    async def look_at_health(self) -> None:
        app, metrics = self.app, self.metrics
        consumer: BatchConsumer = app.consumer  # type: ignore[assignment]
        ends: dict[tuple[str, int], int | None] = {}
        positions: dict[tuple[str, int], int | None] = {}
        unknown = []
        for tp in consumer.assignment():
            key = (tp.topic, tp.partition)
            try:
                ends[key] = consumer.highwater(tp)
            except Exception:  # not fetched yet
                ends[key] = None
            committed = consumer._committed_offset.get(tp)
            stored = self.stored_next.get(key)
            # a partition that came back after another worker moved it on: what that worker
            # committed is ahead of what this one stored before
            positions[key] = (committed if stored is None
                              else stored if committed is None else max(stored, committed))
            if positions[key] is None:
                unknown.append(tp)
        if unknown:  # nothing stored or committed yet: the partition's start is the position
            try:
                for tp, offset in (await consumer.earliest_offsets(*unknown)).items():
                    positions[(tp.topic, tp.partition)] = offset
            except Exception as exc:
                log.debug("earliest offsets unavailable: %s", exc)
        look = self.detector.assess(time.time(), ends, positions, consumer.last_poll,
                                    consumer.waiting_on_agent, app.rebalancing,
                                    consumer.last_handed)
        metrics.stalled.set(1 if look.stalled else 0)
        metrics.last_poll.set(consumer.last_poll)
        if look.stalled:
            log.warning("worker stalled: %s (%s)", "; ".join(look.reasons),
                        consumer.describe_flow())

    def health(self) -> tuple[dict[str, Any], int]:
        """What /healthz answers, and its status."""
        look = self.detector.last
        running = self.app.consumer is not None and not self.app.should_stop
        fresh = time.time() - look.at <= max(10.0, 5 * HEALTH_INTERVAL_SECONDS)
        ok = running and fresh and not look.stalled
        reasons = list(look.reasons)
        if not fresh:
            reasons.append(f"no health look for {time.time() - look.at:.0f} s")
        return {"ok": ok, "stalled": look.stalled, "reasons": reasons,
                "lag": sum(look.lag.values())}, 200 if ok else 503

    async def close(self) -> None:
        for sink in (*self.sinks.values(), self.sweeper):
            await sink.close()

    def _add_services(self) -> None:
        """The timers, pages and the closing task, on the Faust app."""
        app = self.app

        @app.timer(DLQ_SWEEP_SECONDS)
        async def sweep_dead_letters() -> None:
            await self.sweep_dead_letters()

        @app.timer(HEALTH_INTERVAL_SECONDS)
        async def look_at_health() -> None:
            await self.look_at_health()

        @app.page("/metrics")
        async def metrics_page(web, request):  # noqa: ANN001 - Faust's signature
            # aiohttp wants the charset apart from the content type
            return web.bytes(generate_latest(self.registry),
                             content_type="text/plain; version=0.0.4")

        @app.page("/healthz")
        async def healthz(web, request):  # noqa: ANN001
            body, status = self.health()
            return web.json(body, status=status)

        @app.task
        async def close_sink_on_stop() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await self.close()


def create_app(settings: Settings, registry: CollectorRegistry | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC), live: bool = True,
               codes: KnownCodes | None = None, replication: int = 1) -> faust.App:
    """The Faust app of a `Worker` on `settings` (what `ioc worker` runs)."""
    return Worker(settings, registry, clock, live, codes, replication).app
