"""`ioc status`: per feed rows stored, newest event time and consumer lag; dead letters."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from ioc.contract import FEEDS
from ioc.db import connect
from ioc.errors import ServiceError
from ioc.settings import Settings


def high_watermarks(consumer: KafkaConsumer, tps: list[TopicPartition],
                    timeout: float = 5.0) -> dict[TopicPartition, int]:
    """End offsets of `tps`, taken from fetch responses.

    Tansu 0.6 answers ListOffsets(latest) with a value that can lag behind the records it
    holds (measured: 212 for a partition holding 216), so `end_offsets()` alone would
    understate lag; a fetch carries the true high watermark. Reassigns `consumer`.
    """
    listed = consumer.end_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(0, listed[tp] - 1))  # fetch only the tail
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in tps):
        consumer.poll(timeout_ms=200, max_records=1)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in tps}


class PartitionPositions:
    """Reads, per feed, (topic, partition) -> (end offset, offset committed by the worker
    group, 0 when none). Keeps its Kafka clients between reads: a probe that opened and
    closed them every few seconds logged "Metadata refresh failed: Cancelled" each time
    (kafka-python cancels the refresh in flight on close), an alarm for whoever reads the
    log. After a failed read the clients are opened afresh."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.settings = settings
        self.bootstrap = bootstrap
        self._clients: tuple[KafkaAdminClient, KafkaConsumer] | None = None

    def _open(self) -> tuple[KafkaAdminClient, KafkaConsumer]:
        if self._clients is None:
            self._clients = (
                KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="ioc-status",
                                 request_timeout_ms=5000),
                KafkaConsumer(bootstrap_servers=self.bootstrap, client_id="ioc-status",
                              request_timeout_ms=5000, enable_auto_commit=False))
        return self._clients

    def read(self) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
        admin, consumer = self._open()
        settings = self.settings
        try:
            group = settings.consumer_group
            committed = admin.list_group_offsets(group).get(group, {})
            # one assignment for all feeds: one round of fetches finds every high watermark
            by_feed = {feed: [TopicPartition(settings.topic(feed), p) for p in
                              sorted(consumer.partitions_for_topic(settings.topic(feed)) or ())]
                       for feed in FEEDS}
            ends = high_watermarks(consumer, [tp for tps in by_feed.values() for tp in tps])
        except Exception:
            self.close()
            raise
        return {feed: {(tp.topic, tp.partition): (
            ends[tp], committed[tp].offset if tp in committed and committed[tp].offset >= 0
            else 0) for tp in tps} for feed, tps in by_feed.items()}

    def replicas_out_of_sync(self) -> dict[int, int]:
        """Per broker holding a copy of a feed's partition: how many of those copies are
        out of sync (`out_of_sync`), from one metadata request."""
        admin = self._open()[0]
        try:
            topics = admin.describe_topics([self.settings.topic(feed) for feed in FEEDS])
        except Exception:
            self.close()
            raise
        return out_of_sync(topics)

    def close(self) -> None:
        if self._clients is not None:
            admin, consumer = self._clients
            self._clients = None
            consumer.close()
            admin.close()


def out_of_sync(topics: list[dict[str, Any]]) -> dict[int, int]:
    """Per broker named as a replica in a Metadata answer's `topics`: how many of its copies
    are not in the in-sync set (0: all in sync). A broker killed or stopped drops out of
    every in-sync set once the controller fences it (about 9 s); one catching up after a
    restart stays out until it has copied what it missed: what the wall says about brokers."""
    counts: dict[int, int] = {}
    for topic in topics:
        for partition in topic["partitions"]:
            in_sync = set(partition["isr_nodes"])
            for broker in partition["replica_nodes"]:
                counts[broker] = counts.get(broker, 0) + (broker not in in_sync)
    return counts


def records_held(bootstrap: str) -> int:
    """How many records the broker at `bootstrap` holds, all topics together (end minus
    beginning offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="ioc-up",
                             request_timeout_ms=5000, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for topic in consumer.topics()
               for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            return 0
        ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        return sum(max(0, ends[tp] - starts[tp]) for tp in tps)
    finally:
        consumer.close()


def partition_positions(settings: Settings, bootstrap: str
                        ) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
    """`PartitionPositions.read` once."""
    positions = PartitionPositions(settings, bootstrap)
    try:
        return positions.read()
    finally:
        positions.close()


def consumer_lag(settings: Settings, bootstrap: str) -> dict[str, int | None]:
    """Per feed: messages in its topic not yet committed by the worker group (None: unknown)."""
    return {feed: sum(max(0, end - done) for end, done in tps.values()) if tps else None
            for feed, tps in partition_positions(settings, bootstrap).items()}


def firing_alerts(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Alerts firing (or flapping) now, most severe first, as the alert engine stored them."""
    keys = ("fingerprint", "rule", "severity", "state", "labels", "value", "threshold",
            "starts_at", "summary_vi", "summary_en", "acknowledged_by", "inhibited_by",
            "silenced_by")
    rows = conn.execute(
        f"SELECT {', '.join(keys)} FROM alerts_current WHERE state IN ('firing', 'flapping')"
        " ORDER BY array_position(ARRAY['critical', 'warning', 'info'], severity),"
        " starts_at, fingerprint").fetchall()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
             for k, v in zip(keys, row, strict=True)} for row in rows]


def collect(settings: Settings, database_url: str, bootstrap: str) -> dict[str, Any]:
    """The status document printed by `ioc status --json`."""
    with connect(database_url, settings.db_schema, autocommit=True) as conn:
        try:
            stats = {row[0]: row[1:] for row in conn.execute(
                "SELECT feed, rows_stored, newest_event_at FROM feed_stats")}
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            alerts = firing_alerts(conn)
        except psycopg.errors.UndefinedTable:
            raise ServiceError(
                f"schema {settings.db_schema!r} has no IOC tables yet; run `ioc migrate` "
                "or `ioc up` first") from None
    try:
        lag: dict[str, int | None] = consumer_lag(settings, bootstrap)
        kafka_error = None
    except KafkaError as exc:
        lag, kafka_error = dict.fromkeys(FEEDS), f"{type(exc).__name__}: {exc}"
    feeds = {}
    for feed in FEEDS:
        rows, newest = stats.get(feed, (0, None))
        feeds[feed] = {
            "rows_stored": rows,
            "newest_event_at": newest.isoformat() if newest else None,
            "consumer_lag": lag[feed],
        }
    doc: dict[str, Any] = {"feeds": feeds, "dead_letters": dead, "alerts": alerts}
    if kafka_error:
        doc["kafka_error"] = kafka_error
    return doc
