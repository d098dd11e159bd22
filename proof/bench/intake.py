"""`ioc bench --suite intake`: how fast the HTTP intake takes events (issue 41, item 7).

A real `ioc intake` process on loopback (embedded PostgreSQL and broker unless configured),
loaded by 50 concurrent HTTP clients (aiohttp, keep-alive) sending batches of 1, 100 and
1,000 valid events as fast as it answers: events accepted per second, and each request's
time from sending to the answer (p50, p99). Beside it, in the same run, the same events
produced straight to Kafka with librdkafka (idempotent, acks=all, flushed): the intake's
throughput at batches of 1,000 against that. Then batches of 100 paced at ten times the
province's peak rate (its busiest hour of a simulated working Monday): p99 of the answer.
The source's rate limit is lifted for the run (IOC_INTAKE_RATE): the point is the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from ioc import sources
from ioc.contract import FEEDS
from ioc.db import connect
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc.settings import Settings
from ioc.topics import ensure_topics
from proof.harness import free_port, healthz, make_event, services, start_part, until
from simulators.generator import ProvinceSimulator

log = logging.getLogger(__name__)

START = datetime.fromisoformat("2026-03-02T00:00:00+07:00")  # a working Monday
RATIO_MIN = 0.5          # batch-1,000 throughput against the direct producer
PACED_P99_MS_MAX = 250.0  # batches of 100 at ten times the province's peak rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intake-events", type=int, default=200_000, metavar="N",
                        help="intake: events sent at batches of 100 and of 1,000, and "
                             "produced directly (default 200000; a tenth at batches of 1)")
    parser.add_argument("--intake-clients", type=int, default=50, metavar="C",
                        help="intake: concurrent HTTP clients (default 50)")
    parser.add_argument("--intake-paced-requests", type=int, default=100, metavar="R",
                        help="intake: requests of 100 events sent at ten times the province's "
                             "peak rate (default 100)")


def peak_rate(settings: Settings) -> float:
    """The province's events per second in its busiest minute of a simulated working day."""
    records = ProvinceSimulator(load_province(settings.province_file), seed=1).events_between(
        START, START + timedelta(days=1))
    minutes = Counter(int(r.event_time // 60) for r in records)
    return max(minutes.values()) / 60


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "requests": len(ordered)}


def _bodies(events: list[bytes], batch: int) -> list[bytes]:
    return [b"[" + b",".join(events[i:i + batch]) + b"]" for i in range(0, len(events), batch)]


async def _load(url: str, key: str, bodies: list[bytes], clients: int,
                pace: float | None = None) -> dict:
    """Send `bodies` from `clients` concurrent clients (each request after the one before
    is answered; `pace`: request i not before i * pace s); figures of the answers."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    turn = iter(enumerate(bodies))
    took: list[float] = []
    accepted, statuses = 0, Counter()

    async def client(session: aiohttp.ClientSession, began: float) -> None:
        nonlocal accepted
        for i, body in turn:
            if pace is not None:
                await asyncio.sleep(max(0.0, began + i * pace - time.perf_counter()))
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as answer:
                text = await answer.read()
            took.append(time.perf_counter() - sent)
            statuses[answer.status] += 1
            if answer.status == 200:
                accepted += json.loads(text)["accepted"]

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(session, began) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return {"accepted": accepted, "seconds": round(elapsed, 2),
            "events_per_s": round(accepted / elapsed), **_percentiles(took),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def _direct(settings: Settings, events: list[tuple[str, bytes, bytes]]) -> dict:
    """The same events produced straight to Kafka as the intake produces them."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                         "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                         "compression.type": "lz4", "log.connection.close": False,
                         "queue.buffering.max.messages": 1_000_000})
    topics = {feed: settings.topic(feed) for feed in FEEDS}
    began = time.perf_counter()
    for feed, key, value in events:
        while True:
            try:
                producer.produce(topics[feed], value, key)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(60)
    elapsed = time.perf_counter() - began
    return {"events": len(events) - left, "seconds": round(elapsed, 2),
            "events_per_s": round((len(events) - left) / elapsed)}


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Measure the intake; return the figures (printed as JSON by `ioc bench`)."""
    n = getattr(args, "intake_events", 200_000)
    clients = getattr(args, "intake_clients", 50)
    paced_requests = getattr(args, "intake_paced_requests", 100)
    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="ioc-bench-intake-") as tmp, \
            services(settings, Path(tmp)) as here:
        s = here.with_(db_schema=f"bench_intake_{tag}", topic_prefix=f"benchintake{tag}",
                       intake_port=free_port(), intake_rate=1e9, data_dir=Path(tmp))
        migrate_database(s, s.database_url)
        ensure_topics(s, s.kafka_bootstrap)
        with connect(s.database_url, s.db_schema, autocommit=True) as conn:
            key = sources.add(conn, "bench", FEEDS, (), "bench")
        peak = peak_rate(s)
        paced_rate = 10 * peak
        now = datetime.now(UTC) - timedelta(minutes=30)
        rng = random.Random(7)
        count = itertools.count()
        fresh = lambda k: [make_event(rng, now, f"b{tag}-{next(count):09d}")  # noqa: E731
                           for _ in range(k)]
        made = {"1": fresh(n // 10), "100": fresh(n), "1000": fresh(n),
                "direct": fresh(n), "paced": fresh(100 * paced_requests)}
        intake = start_part(s, Path(tmp), "bench-intake", "intake")
        url = f"http://127.0.0.1:{s.intake_port}/v1/events"
        try:
            if not until(lambda: intake.raise_if_exited() or healthz(s.intake_port) == 200,
                         60):
                raise RuntimeError(f"the intake did not start:\n{intake.log_tail()}")
            direct = _direct(s, made["direct"])
            log.info("bench intake: direct producer %s events/s", direct["events_per_s"])
            batches = {}
            for batch in ("1", "100", "1000"):
                bodies = _bodies([v for _, _, v in made[batch]], int(batch))
                batches[batch] = asyncio.run(_load(url, key, bodies, clients))
                log.info("bench intake: batches of %s: %s events/s", batch,
                         batches[batch]["events_per_s"])
            paced = asyncio.run(_load(url, key, _bodies([v for _, _, v in made["paced"]], 100),
                                      clients, pace=100 / paced_rate))
        finally:
            intake.stop()
    ratio = batches["1000"]["events_per_s"] / direct["events_per_s"]
    return {
        "suite": "intake", "broker": s.embedded_broker if settings.kafka_bootstrap is None
        else "configured", "clients": clients,
        "direct_producer": direct,
        "batches": batches,
        "paced": {**paced, "peak_events_per_s": round(peak, 1),
                  "paced_events_per_s": round(paced_rate, 1), "batch": 100},
        "ratio_batch_1000_to_direct": round(ratio, 3),
        "targets": {"ratio_batch_1000_to_direct_min": RATIO_MIN,
                    "ratio_batch_1000_to_direct_met": ratio >= RATIO_MIN,
                    "paced_p99_ms_max": PACED_P99_MS_MAX,
                    "paced_p99_ms_met": paced["p99_ms"] <= PACED_P99_MS_MAX},
    }
