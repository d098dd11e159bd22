"""Prometheus metrics of the stream processors (`ioc_` prefix, base units).

Built on a registry passed in, so each test (and each worker) has its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.latency = Histogram(
            "ioc_event_latency_seconds", "From occurred_at to stored.", ["feed"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
        self.newest_stored = Gauge(
            "ioc_newest_stored_event_timestamp_seconds",
            "occurred_at of the newest event stored, per feed.", ["feed"], registry=registry)
        self.last_batch = Gauge(
            "ioc_last_batch_timestamp_seconds",
            "Wall-clock time the agent last finished a batch, per feed.", ["feed"],
            registry=registry)


def dead_letter_reason_label(reason: str) -> str:
    """A low-cardinality label from a free-text reason ('undecodable: ...' -> 'undecodable')."""
    head = reason.split(":", 1)[0].strip()
    for known in ("undecodable", "oversize", "missing event_type", "unknown event_type",
                  "unknown schema version"):
        if head.startswith(known):
            return known.replace(" ", "_")
    if "in the future" in reason:
        return "future_timestamp"
    if head.startswith("feed "):
        return "wrong_feed"
    return "invalid_field"
