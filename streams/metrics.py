"""Prometheus metrics of the stream processors (`ioc_` prefix, base units).

Built on a registry passed in, so each test (and each worker) has its own.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class BulkHistogram(Collector):
    """A labelled histogram fed a whole batch of observations at once.

    Why not prometheus_client's Histogram: observing each event of a 5,000-event batch one by
    one cost more than a microsecond per event (a lock and a bucket search each); here a batch
    is sorted once and each bucket counted with one binary search.
    """

    def __init__(self, name: str, documentation: str, label: str,
                 buckets: tuple[float, ...], registry: CollectorRegistry):
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        registry.register(self)

    def observe_many(self, label_value: str, values: Iterable[float]) -> None:
        ordered = sorted(values)
        if not ordered:
            return
        with self._lock:
            counts, total = self._series.setdefault(label_value,
                                                    ([0] * (len(self.bounds) + 1), [0.0]))
            previous = 0
            for i, bound in enumerate(self.bounds):
                upto = bisect_right(ordered, bound)  # values <= bound
                counts[i] += upto - previous
                previous = upto
            counts[-1] += len(ordered) - previous
            total[0] += sum(ordered)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self._lock:
            for value, (counts, total) in sorted(self._series.items()):
                running, buckets = 0, []
                for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
                family.add_metric([value], buckets, total[0])
        yield family


class LagCollector(Collector):
    """Consumer lag per assigned partition, read from the worker's latest health look."""

    def __init__(self, snapshot: Callable[[], dict], registry: CollectorRegistry):
        self._snapshot = snapshot
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ioc_consumer_lag", "Events on the broker not yet stored, per assigned partition.",
            labels=["topic", "partition"])
        for (topic, partition), lag in sorted(self._snapshot().items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


class StreamMetrics:
    """The worker's metrics, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.consumed = Counter(
            "ioc_events_consumed", "Events read from a feed topic.", ["feed"], registry=registry)
        self.stored = Counter(
            "ioc_events_stored", "Events newly stored (redelivered duplicates excluded).",
            ["feed"], registry=registry)
        self.duplicates = Counter(
            "ioc_events_duplicate", "Redelivered events already stored, so skipped.",
            ["feed"], registry=registry)
        self.dead_lettered = Counter(
            "ioc_events_dead_lettered", "Invalid events sent to the dead-letter topic.",
            ["feed", "reason"], registry=registry)
        self.batch_size = Histogram(
            "ioc_batch_events", "Events per database write.", ["feed"], registry=registry,
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000))
        self.write_seconds = Histogram(
            "ioc_db_write_seconds", "Time of one batched database write.", ["feed"],
            registry=registry)
        self.write_errors = Counter(
            "ioc_db_write_errors", "Database writes that failed and were retried.", ["feed"],
            registry=registry)
        self.latency = BulkHistogram(
            "ioc_event_latency_seconds", "From occurred_at to stored (the commit), per event.",
            "feed", LATENCY_BUCKETS, registry)
        self.newest_stored = Gauge(
            "ioc_newest_stored_event_timestamp_seconds",
            "occurred_at of the newest event stored, per feed.", ["feed"], registry=registry)
        self.last_batch = Gauge(
            "ioc_last_batch_timestamp_seconds",
            "Wall-clock time the agent last finished a batch, per feed.", ["feed"],
            registry=registry)
        self.refused = Counter(
            "ioc_events_refused", "Valid events the database refused (dead-lettered after "
            "bisecting their batch).", ["feed"], registry=registry)
        self.dead_letter_publish_errors = Counter(
            "ioc_dead_letter_publish_errors",
            "Dead letters recorded in the database but not published to the dead-letter topic.",
            ["feed"], registry=registry)
        self.stalled = Gauge(
            "ioc_worker_stalled",
            "1 when the worker has lag but stores nothing (see /healthz for why), else 0.",
            registry=registry)
        self.last_poll = Gauge(
            "ioc_consumer_last_poll_timestamp_seconds",
            "Wall-clock time the fetch loop last completed a poll of Kafka.", registry=registry)
