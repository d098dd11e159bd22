"""What the benches and the fault runs share: synthetic contract events, a fast producer,
embedded services on free loopback ports, worker processes, and reading their /metrics.

Used by `ioc bench` (proof/bench/pipeline.py), `ioc chaos` (proof/chaos.py), `ioc soak`
(proof/soak.py) and the integration tests.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ioc.db import connect
from ioc.errors import ServiceError
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc.services.process import ManagedProcess
from ioc.settings import Settings
from ioc.topics import ensure_topics
from ioc.units import UnitsDataset

# Thanh Hóa (the default province): the worker stores only its codes, so the events name 27
# of its communes, its 27 hospitals (one to a commune here), a procedure (a commune's: birth
# registration) and a portal of its
THANH_HOA = load_province("38")
UNITS = [c.code for c in UnitsDataset().communes("38")[:27]]
HOSPITAL_OF = dict(zip(UNITS, THANH_HOA.hospitals, strict=True))
PROCEDURE = THANH_HOA.procedures[0]
PORTAL = THANH_HOA.portals[0].code


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
        hospital = HOSPITAL_OF[unit]
        feed, key = "telemedicine", hospital.link_id
        body = {"feed": feed, "event_type": "link.heartbeat", "data": {
            "link_id": key, "hospital_code": hospital.code, "hub_code": hospital.hub,
            "status": "up", "latency_ms": round(rng.uniform(5, 80), 1),
            "jitter_ms": round(rng.uniform(0, 9), 1), "loss_pct": round(rng.uniform(0, 2), 2)}}
    elif kind < 0.75:
        hospital = HOSPITAL_OF[unit]
        feed, key = "telemedicine", f"session-{rng.randrange(10**6)}"
        body = {"feed": feed, "event_type": rng.choice(["consultation.started",
                                                         "consultation.ended"]), "data": {
            "session_id": key, "link_id": hospital.link_id, "hospital_code": hospital.code,
            "hub_code": hospital.hub, "specialty": "cardiology"}}
    elif kind < 0.95:
        feed, key = "portal", f"hs-{rng.randrange(10**9)}"
        due = (occurred_at + timedelta(days=5)).isoformat()
        if rng.random() < 0.6:
            body = {"feed": feed, "event_type": "dossier.received", "data": {
                "dossier_id": key, "procedure_code": PROCEDURE.code,
                "agency_code": PROCEDURE.agency,
                "service_level": rng.choice(["partial", "full"]),
                "channel": rng.choice(["online", "in_person"]), "due_at": due,
                "centre_code": unit,  # the commune procedure, at the commune's centre
                "digitised": True, "payment": "none"}}
        else:
            body = {"feed": feed, "event_type": "dossier.resolved", "data": {
                "dossier_id": key, "procedure_code": PROCEDURE.code,
                "agency_code": PROCEDURE.agency,
                "due_at": due, "result": "approved", "centre_code": unit, "e_result": True}}
    else:
        feed, key = "portal", PORTAL
        body = {"feed": feed, "event_type": "portal.health", "data": {
            "portal_code": PORTAL, "window_seconds": 60,
            "requests": rng.randrange(100, 5000), "errors": rng.randrange(0, 20),
            "p95_latency_ms": round(rng.uniform(50, 900), 1)}}
    return feed, key.encode(), json.dumps({**envelope, **body}, separators=(",", ":")).encode()


def make_events(n: int, seed: int = 1, start: datetime | None = None,
                step: timedelta = timedelta(milliseconds=1)) -> list[tuple[str, bytes, bytes]]:
    """`n` valid events across the feeds, `step` of event time apart."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC) - timedelta(hours=1)
    return [make_event(rng, start + i * step, f"bench-{seed}-{i:08d}") for i in range(n)]


# Every way the event contract refuses input (docs/events.md, "Validation and the
# dead-letter topic"): kind -> the metric reason label its dead letter must carry.
POISON_KINDS: dict[str, str] = {
    "empty_value": "undecodable",
    "not_json": "undecodable",
    "not_utf8": "undecodable",
    "oversize": "oversize",
    "missing_event_type": "missing_event_type",
    "unknown_event_type": "unknown_event_type",
    "unknown_schema_version": "unknown_schema_version",
    "missing_field": "invalid_field",
    "wrong_type": "invalid_field",
    "bad_value": "invalid_field",
    "unknown_field": "invalid_field",
    "control_chars": "invalid_field",
    "c1_control": "invalid_field",
    "infinite_number": "invalid_field",
    "huge_number": "invalid_field",
    "year_one": "invalid_field",
    "duplicate_key": "duplicate_key",
    "future_timestamp": "future_timestamp",
    "wrong_feed": "wrong_feed",
    "unknown_unit": "unknown_unit",
    "unknown_hospital": "unknown_hospital",
}


def poison_event(kind: str, rng: random.Random, occurred_at: datetime, event_id: str
                 ) -> tuple[str, bytes, bytes]:
    """A payment event (for `unknown_hospital`, a heartbeat) broken in the way `kind` names:
    (feed topic to send it on, key, bytes).
    Built independently of the simulator's bad-data burst, from a valid event of the bench."""
    while True:
        feed, key, value = make_event(rng, occurred_at, event_id)
        if feed == "payments":
            break
    body = json.loads(value)
    if kind == "empty_value":
        return feed, key, b""
    if kind == "not_json":
        return feed, key, b"{not json " + value[:40]
    if kind == "not_utf8":
        return feed, key, value.replace(b'"payments"', b'"pay\xffments"', 1)
    if kind == "oversize":
        body["data"]["failure_reason"] = "x" * (70 * 1024)
    elif kind == "missing_event_type":
        del body["event_type"]
    elif kind == "unknown_event_type":
        body["event_type"] = "payment.refunded"
    elif kind == "unknown_schema_version":
        body["schema_version"] = 2
    elif kind == "missing_field":
        del body["data"]["amount_vnd"]
    elif kind == "wrong_type":
        body["data"]["amount_vnd"] = str(body["data"]["amount_vnd"])
    elif kind == "bad_value":
        body["data"]["amount_vnd"] = -1000
    elif kind == "unknown_field":
        body["data"]["discount"] = 5
    elif kind == "control_chars":  # a NUL in free text: PostgreSQL would refuse the batch
        body["data"].update(status="failed", failure_reason="gateway\u0000timeout")
    elif kind == "c1_control":  # an ANSI escape in its 8-bit (C1) form
        body["data"].update(status="failed", failure_reason="gateway \u009b31m timeout")
    elif kind == "infinite_number":  # Python's json writes it, and reads it back
        body["data"]["amount_vnd"] = float("inf")
    elif kind == "huge_number":
        body["data"]["amount_vnd"] = 10**30
    elif kind == "year_one":  # before year 1 in UTC: stored, then unreadable
        body["occurred_at"] = "0001-01-01T00:00:00+14:00"
    elif kind == "duplicate_key":  # parsers keep the last: what a reader sees would differ
        value = json.dumps(body, separators=(",", ":")).encode()
        return feed, key, value.replace(b'"status":', b'"status":"failed","status":', 1)
    elif kind == "future_timestamp":
        body["occurred_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    elif kind == "wrong_feed":
        return "portal", key, value  # a valid payment, on the portal topic
    elif kind == "unknown_unit":  # a commune of Hà Nội, not of the province
        body["unit_codes"] = ["00004"]
    elif kind == "unknown_hospital":  # a link the province file does not have
        hospital = HOSPITAL_OF[body["unit_codes"][0]]
        code = f"{hospital.code}-r1"
        return "telemedicine", key, json.dumps({**body, "feed": "telemedicine",
            "event_type": "link.heartbeat", "data": {
                "link_id": f"{code}--{hospital.hub}", "hospital_code": code,
                "hub_code": hospital.hub, "status": "down"}}, separators=(",", ":")).encode()
    else:
        raise ValueError(f"unknown poison kind {kind!r}")
    return feed, key, json.dumps(body, separators=(",", ":")).encode()


class Producer:
    """A fast confluent-kafka producer (lz4, large batches), as the simulator uses."""

    def __init__(self, bootstrap: str, idempotent: bool = False):
        from confluent_kafka import Producer as _Producer

        # idempotent (`idempotent`: the fault runs on Apache Kafka): a retry after a broker
        # died never writes a record twice
        self._p = _Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                             "compression.type": "lz4", "batch.num.messages": 10000,
                             "queue.buffering.max.messages": 1_000_000, "acks": "all",
                             "enable.idempotence": idempotent})
        self.errors: list[str] = []

    def _done(self, err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            self.errors.append(str(err))

    def send(self, topic: str, key: bytes | None, value: bytes,
             on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        """Queue one message; `on_delivery(err, msg)` is called once the broker answered."""
        done = self._done
        if on_delivery is not None:
            def done(err, msg) -> None:  # noqa: ANN001 - librdkafka callback
                self._done(err, msg)
                on_delivery(err, msg)
        while True:
            try:
                self._p.produce(topic, value=value, key=key, on_delivery=done)
                return
            except BufferError:
                self._p.poll(0.01)

    def poll(self) -> None:
        self._p.poll(0)

    def flush(self) -> None:
        if self._p.flush(60) or self.errors:
            raise ServiceError(f"the broker did not take every event: {self.errors[:1]}")


@contextmanager
def services(settings: Settings, data_dir: Path, database: bool = True) -> Iterator[Settings]:
    """The configured database and broker, else embedded ones on free loopback ports
    (`database` False: the broker only)."""
    from ioc.services.embedded import embedded_broker
    from ioc.services.postgres import EmbeddedPostgres

    started = []
    try:
        if database and settings.database_url is None:
            pg = EmbeddedPostgres(data_dir, free_port()).start()
            started.append(pg)
            settings = pg.configure(settings)
        if settings.kafka_bootstrap is None:
            # IOC_EMBEDDED_BROKER: Tansu, or one Apache Kafka node
            port, controller = free_port(), free_port()
            while controller == port:
                controller = free_port()
            broker = embedded_broker(settings, data_dir, port, controller).start()
            started.append(broker)
            settings = settings.with_(kafka_bootstrap=broker.bootstrap)
        yield settings
    finally:
        for service in reversed(started):
            service.stop()


# the `ioc` command as a child process runs it (-P: a folder named like one of our packages
# in the working folder must not shadow it)
IOC = (sys.executable, "-P", "-m", "ioc_command.cli")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A free port P with P + 1 free too: the replay worker listens on worker_port + 1."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def stored_count(settings: Settings) -> int:
    with connect(settings.database_url, settings.db_schema) as conn:
        return int(conn.execute("SELECT sum(rows_stored) FROM feed_stats").fetchone()[0])


def metric_samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition, read by prometheus_client's parser."""
    return [sample for family in text_string_to_metric_families(text)
            for sample in family.samples]


def metric_value(text: str, name: str) -> float:
    """The sum of `name`'s samples over their labels (0 when it has none)."""
    return sum(s.value for s in metric_samples(text) if s.name == name)


def scrape_metrics(url: str) -> dict[str, float]:
    """Sum each metric's samples (over labels); max for *_timestamp_seconds."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, float] = {}
    for sample in metric_samples(text):
        name, value = sample.name, sample.value
        if name.endswith("_timestamp_seconds"):
            out[name] = max(out.get(name, 0.0), value)
        else:
            out[name] = out.get(name, 0.0) + value
    return out


def metrics_text(port: int) -> str:
    """A worker's /metrics page ("" when it does not answer)."""
    try:
        # a worker busy with a backlog may answer slowly
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def stored_events(port: int) -> float | None:
    """The worker's own count of events it stored (None when it does not answer; 0 before
    its first store, when the counter has no samples yet)."""
    text = metrics_text(port)
    return metric_value(text, "ioc_events_stored_total") if text else None


def assigned_partitions(settings: Settings) -> int:
    """Feed partitions a worker holds (its lag gauge has one sample each)."""
    return sum(1 for s in metric_samples(metrics_text(settings.worker_port))
               if s.name == "ioc_consumer_lag"
               and s.labels.get("topic", "").startswith(f"{settings.topic_prefix}."))


def healthz(port: int) -> int | None:
    """HTTP status of a worker's /healthz (200 healthy, 503 stalled), None if it does not
    answer."""
    import urllib.error

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy (returned) or `timeout` passes
    (None): the one polling loop of the benches, fault runs and tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    """`until`, raising when `timeout` passes."""
    value = until(predicate, timeout, interval)
    if value is None:
        raise ServiceError(f"bench: timed out after {timeout:.0f} s waiting for {what}")
    return value


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise ServiceError(f"no VmHWM for pid {pid}")


def up_ports() -> dict[str, str]:
    """The port settings of one `ioc up`: all free and distinct, the worker's + 1 (the replay
    worker's) too."""
    worker = free_port_pair()
    taken, ports = {worker, worker + 1}, {"IOC_WORKER_PORT": str(worker)}
    for name in ("IOC_EMBEDDED_DB_PORT", "IOC_EMBEDDED_KAFKA_PORT", "IOC_DASHBOARD_PORT",
                 "IOC_INTAKE_PORT"):
        port = free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        ports[name] = str(port)
    return ports


def start_part(settings: Settings, data_dir: Path, name: str, *args: str) -> ManagedProcess:
    """Run `ioc <args>` (a worker, an alerter, ...) as a child with `settings` in its
    environment; its log is `data_dir/logs/<name>.log`."""
    return ManagedProcess(name, [*IOC, *args], data_dir / "logs" / f"{name}.log",
                          env=settings.child_env(), cwd=None).start()


def start_worker(settings: Settings, data_dir: Path, name: str = "bench-worker") -> ManagedProcess:
    """A real `ioc worker` process on `settings`' topics, group and schema."""
    return start_part(settings, data_dir, name, "worker")


class PacedFeed(threading.Thread):
    """Produces `n` synthetic events at `rate`/s in the background, every
    1/`poison_ratio`-th one broken (each poison kind in turn), and remembers where every
    poison event landed. Valid events' ids start with `id_prefix`."""

    def __init__(self, settings: Settings, n: int, rate: float, seed: int,
                 poison_ratio: float = 0.0, prefix: str = "chaos"):
        super().__init__(name=f"{prefix}-feed", daemon=True)
        self.id_prefix = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.settings, self.n, self.rate, self.seed = settings, n, rate, seed
        # every k-th event is poison, the kinds in turn: each kind as often as the others
        self._every = round(1 / poison_ratio) if poison_ratio else 0
        self.valid = 0
        self.poison: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) -> kind
        self.poison_sent = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.halt = threading.Event()  # set: stop producing early
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # reported by the scenario that waits for it
            self.error = exc
        finally:
            self.finished.set()

    def _produce(self) -> None:
        rng = random.Random(self.seed)
        producer = Producer(self.settings.kafka_bootstrap,
                            idempotent=self.settings.embedded_broker == "kafka")
        kinds = list(POISON_KINDS)
        started = time.monotonic()
        for i in range(self.n):
            if self.halt.is_set():
                break
            ahead = started + i / self.rate - time.monotonic()
            if ahead > 0.005:
                time.sleep(ahead)
            now = datetime.now(UTC)
            if self._every and i % self._every == self._every // 2:
                kind = kinds[self.poison_sent % len(kinds)]
                self.poison_sent += 1
                feed, key, value = poison_event(kind, rng, now, f"poison-{self.id_prefix}-{i:08d}")
                producer.send(self.settings.topic(feed), key, value,
                              on_delivery=lambda err, msg, kind=kind: self._landed(err, msg, kind))
            else:
                feed, key, value = make_event(rng, now, f"{self.id_prefix}-{i:08d}")
                producer.send(self.settings.topic(feed), key, value)
                self.valid += 1
            if i % 500 == 0:
                producer.poll()
        producer.flush()

    def _landed(self, err: Any, msg: Any, kind: str) -> None:
        if err is None:
            with self._lock:
                self.poison[(msg.topic(), msg.partition(), msg.offset())] = kind

    def wait(self, timeout: float) -> None:
        if not self.finished.wait(timeout):
            raise ServiceError(f"producing {self.n} events took over {timeout:.0f} s")
        if self.error is not None:
            raise ServiceError(f"producing failed: {self.error}") from self.error

    @property
    def seconds(self) -> float:
        return self.n / self.rate


class IntakeClient(threading.Thread):
    """Sends `n` valid events to an HTTP intake at `rate`/s, `batch` a request, from
    `senders` threads, each an `IntakeSender` that never gives up: a request that times out,
    cannot connect, or is answered 408, 429 or 503 is sent again as it was until a 200.
    `acknowledged`: the ids a 200 answered accepted or duplicate; `answers`: every outcome."""

    def __init__(self, url: str, key: str, n: int, rate: float, seed: int, batch: int = 100,
                 senders: int = 4, prefix: str = "intake"):
        from simulators.http_sender import IntakeSender

        super().__init__(name=f"{prefix}-client", daemon=True)
        self.n, self.rate, self.batch = n, rate, batch
        self.id_prefix = f"{prefix}-{uuid.uuid4().hex[:8]}"
        rng = random.Random(seed)
        now = datetime.now(UTC)
        self._bodies = [b"[" + b",".join(
            make_event(rng, now, f"{self.id_prefix}-{i:08d}")[2]
            for i in range(start, min(start + batch, n))) + b"]"
            for start in range(0, n, batch)]
        self._senders = [IntakeSender(url, key, give_up_after=None, keep_ids=True)
                         for _ in range(senders)]
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            started, turn = time.monotonic(), iter(range(len(self._bodies)))
            threads = [threading.Thread(target=self._send_from, args=(sender, turn, started),
                                        daemon=True) for sender in self._senders]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self.finished.set()

    def _send_from(self, sender: Any, turn: Iterator[int], started: float) -> None:
        try:
            for i in turn:  # shared: each batch is taken by one sender
                ahead = started + i * self.batch / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                sender.post(self._bodies[i])
        except BaseException as exc:  # reported by the scenario that waits for it
            self.error = exc

    @property
    def answers(self) -> dict[str, int]:
        return dict(sum((s.answers for s in self._senders), Counter()))

    @property
    def acknowledged(self) -> set[str]:
        return set().union(*(s.acknowledged for s in self._senders))

    @property
    def refused(self) -> int:
        return sum(s.refused.total() for s in self._senders)

    def wait(self, timeout: float) -> None:
        if not self.finished.wait(timeout):
            raise ServiceError(f"sending {self.n} events to the intake took over {timeout:.0f} s")
        if self.error is not None:
            raise ServiceError(f"sending to the intake failed: {self.error}") from self.error

    @property
    def seconds(self) -> float:
        return self.n / self.rate


class WebhookReceiver:
    """A webhook receiver on loopback for the notifier: keeps every body with the wall time
    it arrived and the Idempotency-Key of every call; it can be told to fail (HTTP 503),
    go down (its port closed) and come back, and answers after `delay` so a notifier can be
    killed in the middle of a delivery."""

    def __init__(self, delay: float = 0.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.delay = delay
        self.failing = False
        self.calls = 0
        self.keys: list[str | None] = []  # Idempotency-Key of every call, failed or not
        self.received: list[tuple[float, dict]] = []
        self.in_flight = 0
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                receiver.in_flight += 1
                try:
                    arrived = time.time()
                    raw = self.rfile.read(int(self.headers["Content-Length"]))
                    receiver.calls += 1
                    receiver.keys.append(self.headers.get("Idempotency-Key"))
                    time.sleep(receiver.delay)
                    if receiver.failing:
                        self.send_response(503)
                    else:
                        receiver.received.append((arrived, json.loads(raw)))
                        self.send_response(200)
                    self.end_headers()
                finally:
                    receiver.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def bodies(self) -> list[dict]:
        return [body for _, body in list(self.received)]

    def first_firing(self) -> dict[str, float]:
        """Per alert fingerprint: the wall time its first `firing` notification arrived."""
        first: dict[str, float] = {}
        for arrived, body in list(self.received):
            for alert in body["alerts"]:
                if alert["status"] == "firing":
                    first.setdefault(alert["fingerprint"], arrived)
        return first


class Namespaces:
    """Fresh namespaces for one run of a bench, soak or fault run (schema, topics, consumer
    group and worker port of their own, migrated, topics created), all dropped at the end, so
    runs never see each other's data nor leave it behind."""

    def __init__(self, base: Settings, kind: str):
        self.base, self.kind = base, kind
        self.tag = uuid.uuid4().hex[:8]
        self.made: list[Settings] = []
        self._named: dict[str, int] = {}

    def fresh(self, name: str, topics: str | None = None, **changes: Any) -> Settings:
        """A namespace named `name` (`name2`, `name3`, ... when asked again: a scenario run
        several times); `topics` shares a topic prefix between namespaces (default: topics
        of its own)."""
        self._named[name] = self._named.get(name, 0) + 1
        if self._named[name] > 1:
            name = f"{name}{self._named[name]}"
        label = f"{self.kind}_{self.tag}_{name}"
        s = self.base.with_(**{
            "db_schema": label[:63], "topic_prefix": topics or f"{self.kind}{self.tag}.{name}",
            "consumer_group": label.replace("_", "-"), "worker_port": free_port(), **changes})
        self.made.append(s)
        migrate_database(s, s.database_url)
        ensure_topics(s, s.kafka_bootstrap)
        return s

    def drop(self) -> None:
        """Drop every schema made (topics go with the run's broker)."""
        with suppress(Exception), connect(self.base.database_url, "public",
                                          autocommit=True) as conn:
            for s in self.made:
                with suppress(Exception):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{s.db_schema}" CASCADE')

    def __enter__(self) -> Namespaces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()
