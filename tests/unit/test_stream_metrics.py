"""The bulk latency histogram agrees with prometheus-client's own histogram."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.metrics import LATENCY_BUCKETS, BulkHistogram


def _samples(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines()
            if line.startswith("lat_seconds_bucket") or line.startswith("lat_seconds_count")]


def test_bulk_observations_give_the_same_buckets_as_one_by_one():
    rng = random.Random(4)
    values = [rng.choice([0.05, 1.0, 3600.0, 7200.0]) if i % 7 == 0 else rng.expovariate(2)
              for i in range(5000)]
    bulk_registry, plain_registry = CollectorRegistry(), CollectorRegistry()
    bulk = BulkHistogram("lat_seconds", "x", "feed", LATENCY_BUCKETS, bulk_registry)
    plain = Histogram("lat_seconds", "x", ["feed"], buckets=LATENCY_BUCKETS,
                      registry=plain_registry)
    for chunk in range(0, len(values), 700):
        bulk.observe_many("portal", values[chunk:chunk + 700])
    for v in values:
        plain.labels("portal").observe(v)
    assert _samples(bulk_registry) == _samples(plain_registry)
    bulk.observe_many("portal", [])  # an empty batch changes nothing
    assert _samples(bulk_registry) == _samples(plain_registry)
