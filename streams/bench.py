"""`ioc bench --suite pipeline`: how fast the stream processors store events, on loopback.

One command, one process tree: it starts its own embedded PostgreSQL and Tansu broker (in a
temporary folder, on free ports) unless IOC_DATABASE_URL / IOC_KAFKA_BOOTSTRAP are set,
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
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ioc import contract
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from ioc.errors import ServiceError
from ioc.settings import REPO_DIR, Settings
from ioc.topics import FEED_PARTITIONS, ensure_topics

DEFAULT_EVENTS = 200_000
DEFAULT_LATENCY_RATE = 2000.0
DEFAULT_LATENCY_SECONDS = 10.0
DEFAULT_ROUNDS = 2
UNITS = [f"bench-unit-{i:02d}" for i in range(27)]


# --- synthetic events --------------------------------------------------------------------


def make_event(rng: random.Random, occurred_at: datetime, event_id: str | None = None
               ) -> tuple[str, bytes, bytes]:
    """One valid contract event of a random type: (feed, key, wire bytes)."""
    unit = rng.choice(UNITS)
    envelope = {"event_id": event_id or uuid.uuid4().hex, "schema_version": 1,
                "occurred_at": occurred_at.isoformat(), "unit_codes": [unit]}
    kind = rng.random()
    if kind < 0.40:
        feed, key = "payments", f"pay-{rng.randrange(10**9)}"
        body = {"feed": feed, "event_type": "payment.completed", "data": {
            "payment_id": key, "category": rng.choice(["admin_fee", "hospital_fee", "tuition"]),
            "channel": rng.choice(["qr_code", "e_wallet", "card"]),
            "amount_vnd": rng.randrange(10_000, 5_000_000),
            "status": "succeeded" if rng.random() < 0.97 else "failed"}}
    elif kind < 0.70:
        feed, key = "telemedicine", f"link-{unit}"
        body = {"feed": feed, "event_type": "link.heartbeat", "data": {
            "link_id": key, "hospital_code": f"bv-{unit}", "hub_code": "bach-mai",
            "status": "up", "latency_ms": round(rng.uniform(5, 80), 1),
            "jitter_ms": round(rng.uniform(0, 9), 1), "loss_pct": round(rng.uniform(0, 2), 2)}}
    elif kind < 0.75:
        feed, key = "telemedicine", f"session-{rng.randrange(10**6)}"
        body = {"feed": feed, "event_type": rng.choice(["consultation.started",
                                                         "consultation.ended"]), "data": {
            "session_id": key, "link_id": f"link-{unit}", "hospital_code": f"bv-{unit}",
            "hub_code": "bach-mai", "specialty": "cardiology"}}
    elif kind < 0.95:
        feed, key = "portal", f"hs-{rng.randrange(10**9)}"
        due = (occurred_at + timedelta(days=5)).isoformat()
        if rng.random() < 0.6:
            body = {"feed": feed, "event_type": "dossier.received", "data": {
                "dossier_id": key, "procedure_code": "tthc-1.001", "agency_code": "so-tp",
                "service_level": rng.choice(["partial", "full"]),
                "channel": rng.choice(["online", "in_person"]), "due_at": due}}
        else:
            body = {"feed": feed, "event_type": "dossier.resolved", "data": {
                "dossier_id": key, "procedure_code": "tthc-1.001", "agency_code": "so-tp",
                "due_at": due, "result": "approved"}}
    else:
        feed, key = "portal", "portal-dvc"
        body = {"feed": feed, "event_type": "portal.health", "data": {
            "portal_code": "dvc-thanh-hoa", "window_seconds": 60,
            "requests": rng.randrange(100, 5000), "errors": rng.randrange(0, 20),
            "p95_latency_ms": round(rng.uniform(50, 900), 1)}}
    return feed, key.encode(), json.dumps({**envelope, **body}, separators=(",", ":")).encode()


def make_events(n: int, seed: int = 1, start: datetime | None = None,
                step: timedelta = timedelta(milliseconds=1)) -> list[tuple[str, bytes, bytes]]:
    """`n` valid events across the feeds, `step` of event time apart."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC) - timedelta(hours=1)
    return [make_event(rng, start + i * step, f"bench-{seed}-{i:08d}") for i in range(n)]


class Producer:
    """A fast confluent-kafka producer (lz4, large batches), as the simulator uses."""

    def __init__(self, bootstrap: str):
        from confluent_kafka import Producer as _Producer

        self._p = _Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                             "compression.type": "lz4", "batch.num.messages": 10000,
                             "queue.buffering.max.messages": 1_000_000, "acks": "all"})
        self.errors: list[str] = []

    def _done(self, err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            self.errors.append(str(err))

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._p.produce(topic, value=value, key=key, on_delivery=self._done)
                return
            except BufferError:
                self._p.poll(0.01)

    def poll(self) -> None:
        self._p.poll(0)

    def flush(self) -> None:
        if self._p.flush(60) or self.errors:
            raise ServiceError(f"the broker did not take every event: {self.errors[:1]}")


# --- services ----------------------------------------------------------------------------


@contextmanager
def services(settings: Settings, data_dir: Path) -> Iterator[Settings]:
    """The configured database and broker, else embedded ones on free loopback ports."""
    from ioc.services.broker import EmbeddedBroker
    from ioc.services.postgres import EmbeddedPostgres

    started = []
    try:
        if settings.database_url is None:
            pg = EmbeddedPostgres(data_dir, _free_port()).start()
            started.append(pg)
            settings = settings.with_(database_url=pg.url)
        if settings.kafka_bootstrap is None:
            broker = EmbeddedBroker(data_dir, _free_port(), settings.tansu_bin).start()
            started.append(broker)
            settings = settings.with_(kafka_bootstrap=broker.bootstrap)
        yield settings
    finally:
        for service in reversed(started):
            service.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _stored_count(settings: Settings) -> int:
    with connect(settings.database_url, settings.db_schema) as conn:
        return int(conn.execute("SELECT sum(rows_stored) FROM feed_stats").fetchone()[0])


def _scrape(url: str) -> dict[str, float]:
    """Sum each metric family's samples (over labels); max for *_timestamp_seconds."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        value = float(line.rsplit(" ", 1)[1])
        if name.endswith("_timestamp_seconds"):
            out[name] = max(out.get(name, 0.0), value)
        else:
            out[name] = out.get(name, 0.0) + value
    return out


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.1):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise ServiceError(f"bench: timed out after {timeout:.0f} s waiting for {what}")


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise ServiceError(f"no VmHWM for pid {pid}")


def _start_worker(settings: Settings, data_dir: Path):  # noqa: ANN202
    from ioc.services.process import ManagedProcess

    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return ManagedProcess("bench-worker", [sys.executable, "-m", "ioc.cli", "worker"],
                          data_dir / "logs" / "bench-worker.log", env=env, cwd=REPO_DIR).start()


def measure_faust(settings: Settings, n: int, data_dir: Path) -> tuple[dict, object]:
    """(a): start the worker on a backlog of `n` events; return figures and the live worker."""
    metrics_url = f"http://127.0.0.1:{settings.worker_port}/metrics"
    worker = _start_worker(settings, data_dir)

    def done() -> dict | None:
        worker.raise_if_exited()
        try:
            m = _scrape(metrics_url)
        except OSError:
            return None
        seen = m.get("ioc_events_stored_total", 0) + m.get("ioc_events_duplicate_total", 0)
        return m if seen >= n else None

    m = _wait_for(done, 120 + n / 2000, "the worker to store the backlog")
    end = m["ioc_last_batch_timestamp_seconds"]
    seconds = end - _first_stored_at(settings)
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds),
            "stored": _stored_count(settings),
            "batches": int(m.get("ioc_batch_events_count", 0)),
            "db_write_seconds_total": round(m.get("ioc_db_write_seconds_sum", 0.0), 3)}, worker


async def _plain_consumer(settings: Settings, n: int) -> float:
    """(b): aiokafka consumer, same decode and sink, one task per feed; returns end time."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.app import MAX_PARTITION_FETCH_BYTES, MAX_POLL_RECORDS, decode_records
    from streams.sink import EventSink

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
                good, dead = decode_records(recs, feed, datetime.now(UTC))
                await sinks[feed].write([g.event for g in good], dead)

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
            "stored": _stored_count(settings)}


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
    producer = Producer(settings.kafka_bootstrap)
    rng = random.Random(7)
    total = int(rate * duration)
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    for i in range(total):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        feed, key, value = make_event(rng, datetime.now(UTC), f"lat-{tag}-{i:08d}")
        producer.send(settings.topic(feed), key, value)
        producer.poll()
    producer.flush()
    metrics_url = f"http://127.0.0.1:{settings.worker_port}/metrics"
    _wait_for(lambda: _scrape(metrics_url).get("ioc_events_stored_total", 0) >= already + total,
              60, "the latency events to be stored", 0.25)
    with connect(settings.database_url, settings.db_schema) as conn:
        p50, p99, worst, count = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s), count(*) FROM ("
            + " UNION ALL ".join(
                f"SELECT extract(epoch FROM stored_at - occurred_at) s FROM {t} "
                "WHERE event_id LIKE %s"
                for t in ("dossier_events", "portal_health", "link_heartbeats",
                          "consultations", "payments")) + ") x",
            [f"lat-{tag}-%"] * 5).fetchone()
    return {"rate_events_per_s": rate, "seconds": duration, "events": int(count),
            "p50_s": round(float(p50), 4), "p99_s": round(float(p99), 4),
            "max_s": round(float(worst), 4)}


def measure_idle_latency(settings: Settings, rate: float, duration: float, data_dir: Path
                         ) -> tuple[dict, float]:
    """Latency through a fresh worker on empty topics (the steady state, not the aftermath of
    a bulk load); returns the figures and that worker's peak RSS in MB."""
    worker = _start_worker(settings, data_dir)
    try:
        metrics_url = f"http://127.0.0.1:{settings.worker_port}/metrics"

        def assigned() -> bool:
            worker.raise_if_exited()
            try:
                text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
            except OSError:
                return False
            return text.count(f'topic="{settings.topic_prefix}.') >= 3 * FEED_PARTITIONS

        _wait_for(assigned, 120, "the latency worker to hold every partition", 0.2)
        return measure_latency(settings, rate, duration, 0), _peak_rss_mb(worker.pid)
    finally:
        worker.stop()


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Run the whole pipeline bench; return the figures."""
    n = getattr(args, "events", DEFAULT_EVENTS)
    rate = getattr(args, "latency_rate", DEFAULT_LATENCY_RATE)
    latency_seconds = getattr(args, "latency_seconds", DEFAULT_LATENCY_SECONDS)
    rounds = getattr(args, "rounds", DEFAULT_ROUNDS)
    if n <= 0 or rate <= 0 or latency_seconds <= 0 or rounds <= 0:
        raise ServiceError("bench: --events, --latency-rate, --latency-seconds and --rounds "
                           "must be > 0")
    import logging

    from ioc.stack import migrate_database

    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    tag = uuid.uuid4().hex[:8]
    made: list[Settings] = []
    with tempfile.TemporaryDirectory(prefix="ioc-bench-") as tmp, \
            services(settings, Path(tmp)) as s:
        base = s.with_(topic_prefix=f"bench{tag}", data_dir=Path(tmp), log_level="WARNING")

        def fresh(name: str, **changes: object) -> Settings:
            each = base.with_(db_schema=f"bench_{tag}_{name}",
                              consumer_group=f"bench-{tag}-{name}", worker_port=_free_port(),
                              **changes)
            made.append(each)
            migrate_database(each, s.database_url)
            return each

        try:
            quiet = fresh("latency", topic_prefix=f"bench{tag}.latency")
            ensure_topics(quiet, s.kafka_bootstrap)
            latency, latency_rss = measure_idle_latency(quiet, rate, latency_seconds, Path(tmp))
            ensure_topics(base, s.kafka_bootstrap)
            events = make_events(n)
            produce_rate = _produce(base, events)
            # (a) and (b) alternate, each round a fresh group and schema on the same backlog:
            # on a shared 2-core machine one run of either varies by +-30 %
            faust_runs: list[dict] = []
            plain_runs: list[dict] = []
            rss = [latency_rss]
            for r in range(rounds):
                figures, worker = measure_faust(fresh(f"faust{r}"), n, Path(tmp))
                rss.append(_peak_rss_mb(worker.pid))
                worker.stop()
                faust_runs.append(figures)
                plain_runs.append(measure_plain(fresh(f"plain{r}"), n))
            raw = measure_copy(fresh("copy"), events)
        finally:
            with connect(s.database_url, "public", autocommit=True) as conn:
                for each in made:
                    with suppress(Exception):
                        conn.execute(f'DROP SCHEMA IF EXISTS "{each.db_schema}" CASCADE')
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
        "cpus": os.cpu_count(),
        "embedded": {"database": settings.database_url is None,
                     "broker": settings.kafka_bootstrap is None},
    }
