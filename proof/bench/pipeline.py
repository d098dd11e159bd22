"""`ioc bench --suite pipeline`: how fast the stream processors store events, on loopback.

One command, one process tree: it starts its own embedded PostgreSQL and broker (Tansu or one
Apache Kafka node: `--broker`, or IOC_EMBEDDED_BROKER; `--broker both` measures on each, side
by side; in a temporary folder, on free ports) unless IOC_DATABASE_URL / IOC_KAFKA_BOOTSTRAP
are set,
produces N synthetic events across the feeds, then measures:
(a) the project's Faust worker (`ioc worker`, a child process) from its first stored row to
    its last batch durable (offsets then committable);
(b) a plain aiokafka consumer with the same decoding and the same sink, measured the same way,
    (a) and (b) alternating for `--rounds` rounds (best of each reported, every round listed);
(c) raw COPY of the same rows straight into the tables;
and, first, on a quiet pipeline, end-to-end latency (occurred_at -> stored_at) at a steady rate
through a fresh worker; and the workers' peak RSS. Every run uses fresh schemas, topics and
groups and drops the schemas it made. The figures are printed as JSON by `ioc bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ioc import contract
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from ioc.errors import ServiceError
from ioc.settings import Settings
from ioc.topics import FEED_PARTITIONS, ensure_topics
from proof.harness import (
    Namespaces,
    PacedFeed,
    Producer,
    assigned_partitions,
    make_events,
    peak_rss_mb,
    scrape_metrics,
    services,
    start_worker,
    stored_count,
    wait_for,
)

DEFAULT_EVENTS = 200_000
DEFAULT_LATENCY_RATE = 2000.0
DEFAULT_LATENCY_SECONDS = 10.0
DEFAULT_ROUNDS = 2
WARM_UP_SECONDS = 5.0  # of the latency run, before the measured part


# --- the measurements ----------------------------------------------------------------------


def _produce(settings: Settings, events: list[tuple[str, bytes, bytes]]) -> float:
    producer = Producer(settings.kafka_bootstrap)
    started = time.perf_counter()
    for feed, key, value in events:
        producer.send(settings.topic(feed), key, value)
    producer.flush()
    return len(events) / (time.perf_counter() - started)


def _first_stored_at(settings: Settings) -> float:
    with connect(settings.database_url, settings.db_schema) as conn:
        return float(conn.execute(
            "SELECT extract(epoch FROM min(t)) FROM (SELECT min(stored_at) t FROM dossier_events "
            "UNION ALL SELECT min(stored_at) FROM portal_health UNION ALL SELECT min(stored_at) "
            "FROM link_heartbeats UNION ALL SELECT min(stored_at) FROM consultations "
            "UNION ALL SELECT min(stored_at) FROM payments) s").fetchone()[0])


def measure_faust(settings: Settings, n: int, data_dir: Path) -> tuple[dict, object]:
    """(a): start the worker on a backlog of `n` events; return figures and the live worker."""
    metrics_url = f"http://127.0.0.1:{settings.worker_port}/metrics"
    worker = start_worker(settings, data_dir)

    def done() -> dict | None:
        worker.raise_if_exited()
        try:
            m = scrape_metrics(metrics_url)
        except OSError:
            return None
        seen = m.get("ioc_events_stored_total", 0) + m.get("ioc_events_duplicate_total", 0)
        return m if seen >= n else None

    m = wait_for(done, 120 + n / 2000, "the worker to store the backlog")
    end = m["ioc_last_batch_timestamp_seconds"]
    seconds = end - _first_stored_at(settings)
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds),
            "stored": stored_count(settings),
            "batches": int(m.get("ioc_batch_events_count", 0)),
            "db_write_seconds_total": round(m.get("ioc_db_write_seconds_sum", 0.0), 3)}, worker


async def _plain_consumer(settings: Settings, n: int) -> float:
    """(b): aiokafka consumer, same decode and sink, one task per feed; returns end time."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from ioc.known_codes import KnownCodes
    from ioc.province import load_province
    from ioc.units import UnitsDataset
    from streams.app import MAX_PARTITION_FETCH_BYTES, MAX_POLL_RECORDS, decode_records
    from streams.sink import EventSink

    codes = KnownCodes(load_province(settings.province_file), UnitsDataset())

    url = role_url(settings.database_url, WRITER_ROLE, settings.writer_password)
    sinks = {f: EventSink(lambda: connect_async(url, settings.db_schema))
             for f in contract.FEEDS}
    feed_of = {settings.topic(f): f for f in contract.FEEDS}
    consumer = AIOKafkaConsumer(
        *feed_of, bootstrap_servers=settings.kafka_bootstrap, group_id=settings.consumer_group,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=MAX_POLL_RECORDS, max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        session_timeout_ms=6000, heartbeat_interval_ms=1500)
    await consumer.start()
    done = 0
    try:
        while done < n:
            records = await consumer.getmany(timeout_ms=1000, max_records=MAX_POLL_RECORDS)
            by_feed: dict[str, list] = {}
            for tp, recs in records.items():
                by_feed.setdefault(feed_of[tp.topic], []).extend(recs)

            async def write(feed: str, recs: list) -> None:
                good, dead = decode_records(recs, feed, datetime.now(UTC), codes=codes)
                # the worker's own work: each event counted for its source too
                await sinks[feed].write([g.event for g in good], dead,
                                        [g.origin for g in good])  # type: ignore[misc]

            await asyncio.gather(*(write(f, r) for f, r in by_feed.items()))
            await consumer.commit({TopicPartition(tp.topic, tp.partition): recs[-1].offset + 1
                                   for tp, recs in records.items() if recs})
            done += sum(len(r) for r in records.values())
        return time.time()
    finally:
        await consumer.stop()
        for sink in sinks.values():
            await sink.close()


def measure_plain(settings: Settings, n: int) -> dict:
    end = asyncio.run(_plain_consumer(settings, n))
    seconds = end - _first_stored_at(settings)
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds),
            "stored": stored_count(settings)}


def measure_copy(settings: Settings, events: list[tuple[str, bytes, bytes]]) -> dict:
    """(c): the same rows COPYed straight into the tables, one transaction."""
    from psycopg import sql

    from streams.sink import _SHARED, TABLE_COLUMNS, rows_by_table

    now = datetime.now(UTC)
    rows = rows_by_table(contract.decode(v, f, now) for f, _, v in events)
    url = role_url(settings.database_url, WRITER_ROLE, settings.writer_password)
    with connect(url, settings.db_schema) as conn:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for table, table_rows in rows.items():
                cols = sql.SQL(", ").join(map(sql.Identifier, _SHARED + TABLE_COLUMNS[table]))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                        sql.Identifier(table), cols)) as copy:
                    for row in table_rows:
                        copy.write_row(row)
        seconds = time.perf_counter() - started
    return {"rows": len(events), "seconds": round(seconds, 3),
            "rows_per_s": round(len(events) / seconds)}


def measure_latency(settings: Settings, rate: float, duration: float, already: int) -> dict:
    """Steady `rate` events/s for `duration` s through the running worker; percentiles of
    stored_at - occurred_at over exactly those events."""
    total = int(rate * duration)
    feed = PacedFeed(settings, total, rate, seed=7, prefix="lat")
    feed.start()
    feed.wait(duration + 60)
    metrics_url = f"http://127.0.0.1:{settings.worker_port}/metrics"
    wait_for(lambda: scrape_metrics(metrics_url).get("ioc_events_stored_total", 0)
             >= already + total, 60, "the latency events to be stored", 0.25)
    with connect(settings.database_url, settings.db_schema) as conn:
        p50, p99, worst, count = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s), count(*) FROM ("
            + " UNION ALL ".join(
                f"SELECT extract(epoch FROM stored_at - occurred_at) s FROM {t} "
                "WHERE event_id LIKE %s"
                for t in ("dossier_events", "portal_health", "link_heartbeats",
                          "consultations", "payments")) + ") x",
            [f"{feed.id_prefix}-%"] * 5).fetchone()
    return {"rate_events_per_s": rate, "seconds": duration, "events": int(count),
            "p50_s": round(float(p50), 4), "p99_s": round(float(p99), 4),
            "max_s": round(float(worst), 4)}


def measure_idle_latency(settings: Settings, rate: float, duration: float, data_dir: Path
                         ) -> tuple[dict, float]:
    """Latency through a fresh worker on empty topics (the steady state, not the aftermath of
    a bulk load); returns the figures and that worker's peak RSS in MB."""
    worker = start_worker(settings, data_dir)
    try:
        def assigned() -> bool:
            worker.raise_if_exited()
            return assigned_partitions(settings) >= len(contract.FEEDS) * FEED_PARTITIONS

        wait_for(assigned, 120, "the latency worker to hold every partition", 0.2)
        # a warm-up at the same rate, not counted: the first seconds after a worker starts
        # are its start-up (on Apache Kafka up to 2 s behind while the producer's id and the
        # first fetch of each partition are settled), not the steady state measured here
        warm = int(rate * WARM_UP_SECONDS)
        measure_latency(settings, rate, WARM_UP_SECONDS, 0)
        return measure_latency(settings, rate, duration, warm), peak_rss_mb(worker.pid)
    finally:
        worker.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ioc bench --suite pipeline` (added to the bench parser)."""
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, metavar="N",
                        help=f"pipeline: events to produce and store (default {DEFAULT_EVENTS})")
    parser.add_argument("--latency-rate", type=float, default=DEFAULT_LATENCY_RATE,
                        metavar="EPS", help="pipeline: steady events/s of the latency run "
                                            f"(default {DEFAULT_LATENCY_RATE:g})")
    parser.add_argument("--latency-seconds", type=float, default=DEFAULT_LATENCY_SECONDS,
                        metavar="S", help="pipeline: length of the latency run in seconds "
                                          f"(default {DEFAULT_LATENCY_SECONDS:g})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, metavar="R",
                        help="pipeline: alternate Faust and plain-consumer runs R times "
                             f"(default {DEFAULT_ROUNDS})")
    parser.add_argument("--broker", choices=("tansu", "kafka", "both"), default=None,
                        help="pipeline: the embedded broker to measure on (default: "
                             "IOC_EMBEDDED_BROKER); both: Tansu, then Apache Kafka, side by "
                             "side in one run. Not with IOC_KAFKA_BOOTSTRAP")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Run the whole pipeline bench (on each broker of `--broker both`); return the figures."""
    n = getattr(args, "events", DEFAULT_EVENTS)
    rate = getattr(args, "latency_rate", DEFAULT_LATENCY_RATE)
    latency_seconds = getattr(args, "latency_seconds", DEFAULT_LATENCY_SECONDS)
    rounds = getattr(args, "rounds", DEFAULT_ROUNDS)
    if n <= 0 or rate <= 0 or latency_seconds <= 0 or rounds <= 0:
        raise ServiceError("bench: --events, --latency-rate, --latency-seconds and --rounds "
                           "must be > 0")
    broker = getattr(args, "broker", None)
    if broker is not None and settings.kafka_bootstrap is not None:
        raise ServiceError("bench: --broker chooses an embedded broker; unset "
                           "IOC_KAFKA_BOOTSTRAP to use it")
    import logging

    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    if broker != "both":
        chosen = settings.with_(embedded_broker=broker) if broker else settings
        return _run(chosen, n, rate, latency_seconds, rounds)
    # the same load on each, one after the other, in one process on this machine: compare
    # the ratios and the latencies, not one run's figures with another day's
    runs = {b: _run(settings.with_(embedded_broker=b), n, rate, latency_seconds, rounds)
            for b in ("tansu", "kafka")}
    return {
        "suite": "pipeline",
        "events": n,
        "brokers": runs,
        "side_by_side": {
            key: {b: f(r) for b, r in runs.items()} for key, f in (
                ("faust_events_per_s", lambda r: r["faust"]["events_per_s"]),
                ("plain_events_per_s", lambda r: r["plain_aiokafka"]["events_per_s"]),
                ("produce_events_per_s", lambda r: r["produce_events_per_s"]),
                ("latency_p99_s", lambda r: r["latency"]["p99_s"]),
                ("worker_peak_rss_mb", lambda r: r["worker_peak_rss_mb"]))},
        "targets": {f"{b}_{k}": v for b, r in runs.items() for k, v in r["targets"].items()},
        "cpus": os.cpu_count(),
    }


def _run(settings: Settings, n: int, rate: float, latency_seconds: float, rounds: int
         ) -> dict:
    """The bench on one broker: the configured one, else the embedded one of the settings."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-") as tmp, \
            services(settings, Path(tmp)) as s, \
            Namespaces(s.with_(data_dir=Path(tmp), log_level="WARNING"), "bench") as spaces:
        shared = f"bench{spaces.tag}"  # one backlog, read by every round

        def fresh(name: str) -> Settings:
            return spaces.fresh(name, topics=shared)

        quiet = spaces.fresh("latency")
        latency, latency_rss = measure_idle_latency(quiet, rate, latency_seconds, Path(tmp))
        base = spaces.base.with_(topic_prefix=shared)
        ensure_topics(base, base.kafka_bootstrap)
        events = make_events(n)
        produce_rate = _produce(base, events)
        # (a) and (b) alternate, each round a fresh group and schema on the same backlog:
        # on a shared 2-core machine one run of either varies by +-30 %
        faust_runs: list[dict] = []
        plain_runs: list[dict] = []
        rss = [latency_rss]
        for r in range(rounds):
            figures, worker = measure_faust(fresh(f"faust{r}"), n, Path(tmp))
            rss.append(peak_rss_mb(worker.pid))
            worker.stop()
            faust_runs.append(figures)
            plain_runs.append(measure_plain(fresh(f"plain{r}"), n))
        raw = measure_copy(fresh("copy"), events)
    faust = max(faust_runs, key=lambda f: f["events_per_s"])
    plain = max(plain_runs, key=lambda f: f["events_per_s"])
    return {
        "suite": "pipeline",
        "events": n,
        "rounds": rounds,
        "produce_events_per_s": round(produce_rate),
        "faust": {**faust, "rounds_events_per_s": [f["events_per_s"] for f in faust_runs]},
        "plain_aiokafka": {**plain,
                           "rounds_events_per_s": [f["events_per_s"] for f in plain_runs]},
        "raw_copy": raw,
        "ratio_faust_to_plain": round(faust["events_per_s"] / plain["events_per_s"], 3),
        "ratio_faust_to_copy": round(faust["events_per_s"] / raw["rows_per_s"], 3),
        "latency": latency,
        "worker_peak_rss_mb": round(max(rss), 1),
        "targets": {"ratio_faust_to_plain_min": 0.8, "latency_p99_seconds_max": 1.0,
                    "worker_peak_rss_mb_max": 300,
                    "ratio_met": faust["events_per_s"] >= 0.8 * plain["events_per_s"],
                    "latency_met": latency["p99_s"] <= 1.0, "rss_met": max(rss) <= 300},
        "cpus": os.cpu_count(),
        "embedded": {"database": settings.database_url is None,
                     "broker": settings.kafka_bootstrap is None},
        "broker": settings.embedded_broker if settings.kafka_bootstrap is None else "external",
    }
