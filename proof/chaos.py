"""`ioc chaos`: fault runs proving that the stream processors and the notifier lose nothing,
double nothing and do not get stuck, whatever breaks.

One process tree on loopback: its own embedded PostgreSQL and broker (in a temporary folder,
on free ports), real `ioc worker` / `ioc alerter` / `ioc notifier` child processes,
each scenario in its own schema, topics and consumer group. The scenarios:

- worker_kill: a worker SIGKILLed every few seconds while events arrive, restarted each time;
- rebalance: a second worker joins mid-run, then the first one leaves (two rebalances);
- database_outage: PostgreSQL stopped mid-run, started again after a while;
- poison: 1 event in 100 broken in each way the contract refuses (proof/harness.py);
- notifier: the webhook receiver down for a while, then the notifier SIGKILLed while it
  delivers (alerts are written to the alerts table as the alerter would);
- stalled_agent: one feed's writes blocked (a table lock) while its backlog grows: the
  worker's /healthz and the `backlog_stalled` alert must both say so within a minute.

`--broker kafka` runs them on three Apache Kafka brokers instead of Tansu (every topic in
three copies, two in sync to take a write, idempotent producers with acks=all), and adds:

- leader_kill: the broker leading a partition being written SIGKILLed under load, back later;
- controller_kill: the active controller (the KRaft quorum's leader) SIGKILLed under load;
- rolling_restart: every broker stopped and started again in turn;
- broker_down: one broker SIGKILLed and away for two minutes, then back.

Each prints one JSON object with its figures and `ok` (its bar met); `ioc chaos` exits 1
when any scenario fails its bar. Bars: stored distinct = valid events produced, no
duplicate rows, every invalid event dead-lettered with its reason, every notification
delivered with at most one duplicate per transition, recovery within the stated seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ioc import sources
from ioc.contract import FEEDS
from ioc.db import connect
from ioc.errors import ServiceError
from ioc.refusals import reason_label
from ioc.services.broker import HOST, EmbeddedBroker
from ioc.services.kafka import DEFAULT_JARS, ApacheKafka, fetch_jars
from ioc.services.postgres import EmbeddedPostgres
from ioc.services.process import ManagedProcess, wait_for_tcp
from ioc.settings import Settings
from ioc.topics import FEED_PARTITIONS
from proof.crashes import crash_reports
from proof.harness import (
    POISON_KINDS,
    IntakeClient,
    Namespaces,
    PacedFeed,
    WebhookReceiver,
    assigned_partitions,
    free_port,
    healthz,
    start_part,
    start_worker,
    stored_events,
    until,
)
from streams.sink import TABLE_COLUMNS

log = logging.getLogger(__name__)

RESUME_BAR_SECONDS = 10.0      # database back -> the worker stores again
BROKER_RULE = "broker_out_of_sync"  # the shipped rule the broker scenarios must see fire
DETECT_BAR_SECONDS = 60.0      # a stalled agent -> /healthz fails and the alert fires
MAX_COPIES_PER_TRANSITION = 2  # a notification delivered at most twice


@dataclass(frozen=True)
class ChaosOptions:
    """Sizes and durations of the fault runs (`QUICK` is the short run of the test suite)."""

    events: int = 100_000
    rate: float = 5_000.0            # events/s produced while faults happen
    kills: int = 5
    kill_every: float = 3.0          # mean seconds between kills (0.5x to 1.5x, seeded)
    outage_seconds: float = 30.0
    poison_ratio: float = 0.01
    receiver_down_seconds: float = 120.0
    alerts: int = 20
    stall_seconds: float = 30.0      # the worker's IOC_WORKER_STALL_SECONDS
    stall_alert_seconds: float = 25.0
    stall_alert_for: float = 10.0
    settle_seconds: float = 180.0    # the most a scenario waits for everything to be stored
    leader_down_seconds: float = 10.0   # leader_kill: the killed leader's broker stays down
    broker_down_seconds: float = 120.0  # broker_down: one broker away this long
    intake_kills: int = 3            # intake: SIGKILLs of the HTTP intake mid-request
    freeze_seconds: float = 20.0     # intake: every broker frozen (SIGSTOP) this long
    seed: int = 1


QUICK = ChaosOptions(events=3_000, rate=300.0, kills=2, kill_every=2.5, outage_seconds=5.0,
                     receiver_down_seconds=10.0, alerts=6, stall_seconds=5.0,
                     stall_alert_seconds=5.0, stall_alert_for=2.0, settle_seconds=90.0,
                     leader_down_seconds=15.0, broker_down_seconds=25.0, intake_kills=2,
                     freeze_seconds=5.0)


# --- what every scenario shares -----------------------------------------------------------


class Tally:
    """What a scenario's schema holds: rows and distinct event ids over every event table,
    and dead letters."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def read(self) -> tuple[int, int, int] | None:
        """(rows, distinct event ids, dead letters), or None while the database is away."""
        union = " UNION ALL ".join(f"SELECT event_id FROM {t}" for t in TABLE_COLUMNS)
        try:
            with connect(self.settings.database_url, self.settings.db_schema) as conn:
                rows, distinct = conn.execute(
                    f"SELECT count(*), count(DISTINCT event_id) FROM ({union}) e").fetchone()
                dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        except (psycopg.Error, ServiceError):
            return None
        return int(rows), int(distinct), int(dead)


@dataclass
class Run:
    """The services of one `ioc chaos` run and the namespaces its scenarios made."""

    options: ChaosOptions
    data_dir: Path
    postgres: EmbeddedPostgres
    bootstrap: str
    # the three Apache Kafka brokers the broker scenarios stop and kill (None: Tansu)
    cluster: ApacheKafka | None = None
    tansu: EmbeddedBroker | None = None
    spaces: Namespaces = field(init=False)

    def __post_init__(self) -> None:
        self.spaces = Namespaces(self.base, "chaos")

    @property
    def base(self) -> Settings:
        return self.postgres.configure(Settings(
            kafka_bootstrap=self.bootstrap, data_dir=self.data_dir,
            embedded_broker="tansu" if self.cluster is None else "kafka",
            log_level="INFO"))  # the parts' logs

    def namespace(self, name: str, **changes: Any) -> Settings:
        """Fresh schema, topics, consumer group and worker port for one scenario."""
        return self.spaces.fresh(name, **changes)

    def brokers(self) -> list[ManagedProcess]:
        """The processes of every broker of the run."""
        if self.cluster is not None:
            return list(self.cluster.processes.values())
        return [self.tansu.process] if self.tansu and self.tansu.process else []


def _ready(worker: ManagedProcess, port: int, timeout: float = 60.0) -> None:
    def up() -> bool:
        worker.raise_if_exited()
        return healthz(port) is not None
    if not until(up, timeout):
        raise ServiceError(f"chaos: {worker.name} did not answer /healthz in {timeout:.0f} s")


def _settle(tally: Tally, valid: int, dead: int, timeout: float) -> tuple[int, int, int]:
    """Wait until every valid event is stored and every poison event dead-lettered (or the
    timeout); return the last (rows, distinct, dead letters)."""
    last = [(0, 0, 0)]

    def done() -> bool:
        now = tally.read()
        if now is not None:
            last[0] = now
        return now is not None and now[1] >= valid and now[2] >= dead
    until(done, timeout, 0.25)
    return last[0]


def _stored_figures(feed: PacedFeed, counts: tuple[int, int, int]) -> dict[str, Any]:
    rows, distinct, dead = counts
    return {"produced": feed.valid, "stored_rows": rows, "stored_distinct": distinct,
            "duplicates": rows - distinct, "lost": feed.valid - distinct,
            "dead_lettered": dead}


def _exact(figures: dict[str, Any]) -> bool:
    return figures["lost"] == 0 and figures["duplicates"] == 0 and \
        figures["stored_distinct"] == figures["produced"]


# --- the scenarios -------------------------------------------------------------------------


def worker_kill(run: Run) -> dict[str, Any]:
    opts = run.options
    s = run.namespace("kill")
    rng = random.Random(opts.seed)
    worker = start_worker(s, run.data_dir, "kill-worker-0")
    _ready(worker, s.worker_port)
    feed = PacedFeed(s, opts.events, opts.rate, opts.seed)
    feed.start()
    kills, last_start = 0, time.monotonic()
    try:
        for kills in range(1, opts.kills + 1):  # noqa: B007 - the count is a figure
            time.sleep(opts.kill_every * rng.uniform(0.5, 1.5))
            worker.kill()
            log.info("chaos worker_kill: SIGKILL %d/%d", kills, opts.kills)
            worker = start_worker(s, run.data_dir, f"kill-worker-{kills}")
            last_start = time.monotonic()
        feed.wait(feed.seconds + 120)
        counts = _settle(Tally(s), feed.valid, 0, opts.settle_seconds)
        recovery = time.monotonic() - last_start
        crashes = crash_reports(worker)  # the last one was never killed
    finally:
        worker.stop()
    figures = _stored_figures(feed, counts)
    return {**figures, "kills": kills, "recovery_seconds": round(recovery, 1),
            "worker_crashed": bool(crashes), "crashes": crashes,
            "ok": _exact(figures) and kills == opts.kills and not crashes}


def rebalance(run: Run) -> dict[str, Any]:
    opts = run.options
    first = run.namespace("rebalance")
    second = first.with_(worker_port=free_port())
    tally = Tally(first)
    workers = [start_worker(first, run.data_dir, "rebalance-worker-a")]
    _ready(workers[0], first.worker_port)
    feed = PacedFeed(first, opts.events, opts.rate, opts.seed + 1)
    feed.start()
    all_partitions = len(FEEDS) * FEED_PARTITIONS
    try:
        until(lambda: (t := tally.read()) is not None and t[1] > 0, 60)
        workers.append(start_worker(second, run.data_dir, "rebalance-worker-b"))
        joined = time.monotonic()
        # both hold partitions: the group rebalanced over two members
        shared = until(lambda: 0 < assigned_partitions(second) < all_partitions
                        and assigned_partitions(first) > 0, 60)
        join_seconds = time.monotonic() - joined
        log.info("chaos rebalance: second worker joined (%.1f s)", join_seconds)
        crashes = crash_reports(workers[0])  # it must live through the rebalance
        workers[0].stop()   # leaves the group cleanly: its partitions move to the second
        left = time.monotonic()
        took_over = until(lambda: assigned_partitions(second) == all_partitions, 60)
        handover_seconds = time.monotonic() - left
        log.info("chaos rebalance: first worker left, handover %.1f s", handover_seconds)
        feed.wait(feed.seconds + 120)
        counts = _settle(tally, feed.valid, 0, opts.settle_seconds)
        recovery = time.monotonic() - left
        crashes += crash_reports(workers[1])
    finally:
        for w in workers:
            w.stop()
    figures = _stored_figures(feed, counts)
    return {**figures, "rebalances": 2, "worker_crashed": bool(crashes), "crashes": crashes,
            "partitions_shared": bool(shared),
            "join_seconds": round(join_seconds, 1),
            "handover_seconds": round(handover_seconds, 1) if took_over else None,
            "recovery_seconds": round(recovery, 1),
            "ok": _exact(figures) and not crashes and bool(shared) and bool(took_over)}


def database_outage(run: Run) -> dict[str, Any]:
    opts = run.options
    s = run.namespace("dbout", worker_stall_seconds=max(2.0, opts.outage_seconds / 3))
    tally = Tally(s)
    worker = start_worker(s, run.data_dir, "outage-worker")
    _ready(worker, s.worker_port)
    feed = PacedFeed(s, opts.events, opts.rate, opts.seed + 2)
    feed.start()
    stall_seen = False
    try:
        time.sleep(feed.seconds / 3)
        # mid-run: the worker is storing when the database goes
        until(lambda: (stored_events(s.worker_port) or 0) > 0, 30)
        run.postgres.stop()
        log.info("chaos database_outage: PostgreSQL stopped for %.0f s", opts.outage_seconds)
        down_until = time.monotonic() + opts.outage_seconds
        stored_during = None
        while time.monotonic() < down_until:
            stall_seen = stall_seen or healthz(s.worker_port) == 503
            # what the worker itself counts as stored: the database cannot move it now, so
            # the first rise after the restart is the worker writing again
            now_stored = stored_events(s.worker_port)
            stored_during = now_stored if now_stored is not None else stored_during
            time.sleep(0.5)
        run.postgres.start()
        back = time.monotonic()
        log.info("chaos database_outage: PostgreSQL back")
        moved = stored_during is not None and until(
            lambda: (stored_events(s.worker_port) or 0) > stored_during,
            opts.settle_seconds, 0.1)
        resumed = time.monotonic() - back if moved else None
        feed.wait(feed.seconds + 120)
        counts = _settle(tally, feed.valid, 0, opts.settle_seconds)
        recovery = time.monotonic() - back
        crashes = crash_reports(worker)
    finally:
        worker.stop()
    figures = _stored_figures(feed, counts)
    return {**figures, "outage_seconds": opts.outage_seconds,
            "resume_seconds": None if resumed is None else round(resumed, 2),
            "recovery_seconds": round(recovery, 1), "worker_exited": bool(crashes),
            "crashes": crashes,
            "stall_reported_during_outage": stall_seen,
            "ok": _exact(figures) and not crashes and resumed is not None
            and resumed <= RESUME_BAR_SECONDS}


def poison(run: Run) -> dict[str, Any]:
    opts = run.options
    s = run.namespace("poison")
    worker = start_worker(s, run.data_dir, "poison-worker")
    _ready(worker, s.worker_port)
    # at least two of every kind, even in a short run
    ratio = max(opts.poison_ratio, 2 * len(POISON_KINDS) / opts.events)
    feed = PacedFeed(s, opts.events, opts.rate, opts.seed + 3, poison_ratio=ratio)
    feed.start()
    try:
        feed.wait(feed.seconds + 120)
        counts = _settle(Tally(s), feed.valid, len(feed.poison), opts.settle_seconds)
        with connect(s.database_url, s.db_schema) as conn:
            letters = {(t, p, o): r for t, p, o, r in conn.execute(
                "SELECT topic, kafka_partition, kafka_offset, reason FROM dead_letters")}
        on_topic = _count_topic(s, s.topic("deadletter"), len(letters))
    finally:
        worker.stop()
    figures = _stored_figures(feed, counts)
    wrong = {}
    for where, kind in feed.poison.items():
        reason = letters.get(where)
        if reason is None or reason_label(reason) != POISON_KINDS[kind]:
            wrong[kind] = reason or "not dead-lettered"
    kinds = Counter(feed.poison.values())
    return {**figures, "poison_sent": feed.poison_sent, "poison_by_kind": dict(kinds),
            "dead_letter_topic_messages": on_topic, "wrong_reason": wrong,
            "ok": _exact(figures) and not wrong and len(letters) == len(feed.poison)
            == feed.poison_sent and on_topic == len(letters)
            and set(kinds) == set(POISON_KINDS)}


def _count_topic(settings: Settings, topic: str, expected: int, timeout: float = 20.0) -> int:
    """Messages on `topic` (read from the start until `expected` or `timeout`)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"chaos-count-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})
    seen = 0
    try:
        # assigned, not subscribed: no consumer-group join to wait for
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while seen < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen += 1
    except KafkaException as exc:
        log.warning("chaos: cannot read %s: %s", topic, exc)
    finally:
        consumer.close()
    return seen


def _transitions(receiver: WebhookReceiver) -> Counter:
    """How many times each (link, status) reached the webhook."""
    return Counter((a["labels"]["link_id"], a["status"])
                   for _, body in receiver.received for a in body["alerts"])


def _rules_file(path: Path, base: Path, **changes: Any) -> Path:
    """A copy of the rules file `base` with `changes` on top (notifications, rules)."""
    doc = yaml.safe_load(base.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and key == "notifications":
            doc[key] = {**doc.get(key, {}), **value}
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _put_alert(conn: psycopg.Connection, link: str, state: str, starts: datetime,
               ends: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO alerts (fingerprint, rule, labels, severity, state, value, threshold,"
        " summary_vi, summary_en, starts_at, ends_at, updated_at)"
        " VALUES (%s, 'chaos_link_missing', %s, 'critical', %s, 95, 60, %s, %s, %s, %s, now())"
        " ON CONFLICT (fingerprint) DO UPDATE SET state = EXCLUDED.state,"
        " ends_at = EXCLUDED.ends_at, updated_at = now()",
        (f"chaos-{link}", json.dumps({"link_id": link}), state,
         f"Mất kết nối {link}", f"{link} lost", starts, ends))


def notifier(run: Run) -> dict[str, Any]:
    opts = run.options
    receiver = WebhookReceiver(delay=0.2)
    rules = _rules_file(run.data_dir / "chaos-notifier-rules.yaml", run.base.alert_rules,
                        notifications={"group_by": ["alertname", "link_id"],
                                       "group_wait_seconds": 0, "group_interval_seconds": 0,
                                       "repeat_interval_seconds": 86400,
                                       "retry_min_seconds": 0.5, "retry_max_seconds": 2,
                                       "timeout_seconds": 2})
    s = run.namespace("notify", webhook_urls=(receiver.url,), alert_rules=rules)
    links = [f"chaos-link-{i:02d}" for i in range(opts.alerts)]
    resolved = links[: len(links) // 2]
    expected = {(link, "firing") for link in links} | {(link, "resolved") for link in resolved}
    starts = datetime.now(UTC) - timedelta(minutes=1)
    parts: list[ManagedProcess] = []
    killed_in_flight = False
    try:
        with connect(s.database_url, s.db_schema, autocommit=True) as conn:
            for link in links:      # the receiver is down from the start
                _put_alert(conn, link, "firing", starts)
            parts.append(start_part(s, run.data_dir, "notifier-0", "notifier"))
            time.sleep(opts.receiver_down_seconds / 2)
            for link in resolved:   # transitions while the receiver is still down
                _put_alert(conn, link, "resolved", starts, datetime.now(UTC))
            time.sleep(opts.receiver_down_seconds / 2)
        receiver.up()
        back = time.monotonic()
        log.info("chaos notifier: receiver back after %.0f s", opts.receiver_down_seconds)
        # kill the notifier while a delivery is under way (after the first one landed)
        until(lambda: receiver.received and receiver.in_flight, 30, 0.01)
        killed_in_flight = receiver.in_flight > 0
        parts[-1].kill()
        parts.append(start_part(s, run.data_dir, "notifier-1", "notifier"))
        done = until(lambda: expected <= set(_transitions(receiver)), opts.settle_seconds, 0.1)
        recovery = time.monotonic() - back if done else None
        time.sleep(1.0)  # anything repeated would arrive now
    finally:
        for p in parts:
            p.stop()
        receiver.down()
    got = _transitions(receiver)
    copies = max(got.values(), default=0)
    return {"notifications_expected": len(expected),
            "notifications_delivered": len(expected & set(got)),
            "duplicates": sum(n - 1 for n in got.values()), "max_copies": copies,
            "unexpected": sorted(f"{k[0]}:{k[1]}" for k in set(got) - expected),
            "receiver_down_seconds": opts.receiver_down_seconds,
            "killed_during_delivery": killed_in_flight,
            "recovery_seconds": None if recovery is None else round(recovery, 1),
            "ok": bool(done) and copies <= MAX_COPIES_PER_TRANSITION
            and set(got) <= expected and killed_in_flight}


def stalled_agent(run: Run) -> dict[str, Any]:
    opts = run.options
    rules = _rules_file(run.data_dir / "chaos-stall-rules.yaml", run.base.alert_rules, rules={
        "backlog_stalled": {
            "kind": "pipeline", "severity": "critical", "measure": "backlog_stalled_seconds",
            "op": ">", "threshold": opts.stall_alert_seconds, "clear": 0,
            "for_seconds": opts.stall_alert_for, "summary_vi": "Luồng {feed} dừng",
            "summary_en": "Feed {feed} stalled"}}, inhibit=[])
    s = run.namespace("stall", worker_stall_seconds=opts.stall_seconds, alert_rules=rules)
    tally = Tally(s)
    worker = start_worker(s, run.data_dir, "stall-worker")
    alerter = start_part(s, run.data_dir, "stall-alerter", "alerter")
    # a steady trickle through the stall and the recovery (stopped once both are seen)
    feed = PacedFeed(s, 200 * 600, 200.0, opts.seed + 4)
    health_after = alert_after = healthy_after = cleared_after = None

    def firing() -> list[str]:
        with connect(s.database_url, s.db_schema) as conn:
            return [lab["feed"] for (lab,) in conn.execute(
                "SELECT labels FROM alerts WHERE rule = 'backlog_stalled' AND state = 'firing'")]
    try:
        _ready(worker, s.worker_port)
        feed.start()
        until(lambda: (t := tally.read()) is not None and t[1] > 200, 30)
        with connect(s.database_url, s.db_schema) as lock:
            # writes to payments wait (SELECTs do not: the alerter and the wall still read)
            lock.execute("LOCK TABLE payments IN SHARE MODE")
            stalled = time.monotonic()
            log.info("chaos stalled_agent: payments writes blocked")
            while time.monotonic() - stalled < DETECT_BAR_SECONDS + 10 and (
                    health_after is None or alert_after is None):
                if health_after is None and healthz(s.worker_port) == 503:
                    health_after = time.monotonic() - stalled
                if alert_after is None and "payments" in firing():
                    alert_after = time.monotonic() - stalled
                time.sleep(0.5)
            false_alarms = [f for f in firing() if f != "payments"]
            lock.rollback()
        released = time.monotonic()
        log.info("chaos stalled_agent: payments writes released")
        if until(lambda: healthz(s.worker_port) == 200, 60):
            healthy_after = time.monotonic() - released
        if until(lambda: not firing(), 60):
            cleared_after = time.monotonic() - released
        feed.halt.set()
        feed.wait(60)
        counts = _settle(tally, feed.valid, 0, opts.settle_seconds)
        crashes = crash_reports(worker, alerter)
    finally:
        feed.halt.set()
        alerter.stop()
        worker.stop()
    figures = _stored_figures(feed, counts)

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)
    detected = health_after is not None and alert_after is not None and \
        max(health_after, alert_after) <= DETECT_BAR_SECONDS
    return {**figures, "health_failed_after_seconds": r(health_after),
            "alert_fired_after_seconds": r(alert_after), "false_alarms": false_alarms,
            "healthy_again_after_seconds": r(healthy_after),
            "alert_resolved_after_seconds": r(cleared_after), "part_crashed": bool(crashes),
            "crashes": crashes,
            "ok": _exact(figures) and detected and not false_alarms and not crashes
            and healthy_after is not None and cleared_after is not None}


def _under_load(run: Run, name: str, fault: Callable[[Run, Settings], dict[str, Any]]
                ) -> dict[str, Any]:
    """A worker storing a steady feed while `fault` breaks the brokers (returning its own
    figures); then every event must be stored once, by the same worker process."""
    opts = run.options
    # the shipped broker rule alone, evaluated by a live alerter: what the wall shows
    shipped = yaml.safe_load(run.base.alert_rules.read_text(encoding="utf-8"))["rules"]
    rules = _rules_file(run.data_dir / f"{name}-rules.yaml", run.base.alert_rules,
                        rules={BROKER_RULE: shipped[BROKER_RULE]}, inhibit=[])
    s = run.namespace(name, alert_rules=rules)
    tally = Tally(s)
    worker = start_worker(s, run.data_dir, f"{name}-worker")
    alerter = start_part(s, run.data_dir, f"{name}-alerter", "alerter")
    _ready(worker, s.worker_port)
    feed = PacedFeed(s, opts.events, opts.rate, opts.seed + 7)
    feed.start()
    try:
        until(lambda: (t := tally.read()) is not None and t[1] > 0, 60)
        began = time.monotonic()
        figures = fault(run, s)
        feed.wait(feed.seconds + 120)
        counts = _settle(tally, feed.valid, 0, opts.settle_seconds)
        recovery = time.monotonic() - began
        crashes = crash_reports(worker)  # recovered without a restart, or not
        named = _brokers_named(s)
        quiet = until(lambda: not _brokers_named(s, now=True), 90)
        quiet_after = time.monotonic() - began
        crashes += crash_reports(alerter)
    finally:
        alerter.stop()
        worker.stop()
    if feed.error is not None:
        figures["producer_error"] = str(feed.error)
    stored = _stored_figures(feed, counts)
    broken = set(figures.get("broken_brokers", ()))
    return {**stored, **figures, "worker_crashed": bool(crashes), "crashes": crashes,
            "recovery_seconds": round(recovery, 1),
            # the wall's broker alert named every broker broken, and no other, and resolved
            "alert_named_brokers": named,
            "alert_resolved_after_seconds": round(quiet_after, 1) if quiet else None,
            "ok": _exact(stored) and not crashes and feed.error is None
            and set(named) == broken and bool(quiet) and figures.get("fault_done", True)}


def _brokers_named(s: Settings, now: bool = False) -> list[int]:
    """The brokers the broker alert has fired for in the run, or fires for `now`."""
    query = ("SELECT labels->>'broker' FROM alerts WHERE rule = %s AND state = 'firing'"
             if now else "SELECT DISTINCT labels->>'broker' FROM alert_transitions"
             " WHERE rule = %s AND to_state = 'firing'")
    with connect(s.database_url, s.db_schema) as conn:
        return sorted(int(b) for (b,) in conn.execute(query, (BROKER_RULE,)))


def _leader_of(s: Settings, feed: str = "payments", partition: int = 0) -> int:
    """The node leading one partition of a feed's topic (-1: none now, or no answer)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="ioc-chaos",
                                 request_timeout_ms=5000)
        try:
            topic = admin.describe_topics([s.topic(feed)])[0]
        finally:
            admin.close()
    except KafkaError:
        return -1
    # the keys of kafka-python's answer: the Metadata response's field names
    return next(p["leader_id"] for p in topic["partitions"]
                if p["partition_index"] == partition)


def _back(cluster: ApacheKafka, node_id: int) -> float:
    """Start a stopped node again; seconds until it answers."""
    began = time.monotonic()
    process = cluster.start_node(node_id)
    wait_for_tcp(HOST, cluster.nodes[node_id - 1].port, 90, process)
    return round(time.monotonic() - began, 1)


def leader_kill(run: Run) -> dict[str, Any]:
    """The broker leading a partition being written, SIGKILLed under load, back later."""
    def fault(run: Run, s: Settings) -> dict[str, Any]:
        leader = _leader_of(s)
        run.cluster.stop_node(leader, kill=True)
        log.info("chaos leader_kill: SIGKILL broker %d (leader of payments[0])", leader)
        time.sleep(run.options.leader_down_seconds)
        new_leader = until(lambda: (n := _leader_of(s)) != leader and n >= 0 and n, 30)
        return {"killed_broker": leader, "new_leader": new_leader, "broken_brokers": [leader],
                "restart_seconds": _back(run.cluster, leader)}
    return _under_load(run, "leader_kill", fault)


def _quorum_leader(cluster: ApacheKafka) -> int | None:
    """The active controller's node id; None while there is none or the tool cannot say (a
    node just killed or started: the caller asks again)."""
    try:
        node = cluster.quorum_leader()
    except ServiceError as exc:
        log.warning("chaos: %s", exc)
        return None
    return node if node > 0 else None


def controller_kill(run: Run) -> dict[str, Any]:
    """The active controller (the KRaft quorum's leader) SIGKILLed under load: the other two
    elect a new one; the killed node starts again once the wall names it."""
    def fault(run: Run, s: Settings) -> dict[str, Any]:
        controller = until(lambda: _quorum_leader(run.cluster), 30, interval=0.5)
        if controller is None:
            return {"fault_done": False, "error": "no quorum leader found in 30 s"}
        run.cluster.stop_node(controller, kill=True)
        killed = time.monotonic()
        log.info("chaos controller_kill: SIGKILL node %d (the active controller)", controller)

        def elected_other() -> int | None:
            node = _quorum_leader(run.cluster)
            return node if node != controller else None

        new_controller = until(elected_other, 30, interval=0.5)
        elected = time.monotonic() - killed
        # a new controller gives the brokers a fresh session: the dead node is fenced (out
        # of sync, named by the wall) later than after a broker's death; it stays down until
        # then (at most a minute), and for `leader_down_seconds` at least
        named = until(lambda: controller in _brokers_named(s, now=True), 60, interval=1.0)
        shown = time.monotonic() - killed
        time.sleep(max(0.0, run.options.leader_down_seconds - shown))
        return {"killed_controller": controller, "new_controller": new_controller,
                "broken_brokers": [controller], "fault_done": new_controller is not None,
                "new_controller_within_seconds": round(elected, 1),
                "alert_fired_after_seconds": round(shown, 1) if named else None,
                "restart_seconds": _back(run.cluster, controller)}
    return _under_load(run, "controller_kill", fault)


def rolling_restart(run: Run) -> dict[str, Any]:
    """Every broker stopped and started again in turn, as an upgrade does."""
    def fault(run: Run, s: Settings) -> dict[str, Any]:
        took = []
        for node in run.cluster.nodes:
            run.cluster.stop_node(node.node_id)
            took.append(_back(run.cluster, node.node_id))
            time.sleep(3)  # its replicas catch up before the next one goes
            log.info("chaos rolling_restart: broker %d restarted", node.node_id)
        return {"restarted": len(took), "restart_seconds": took,
                "broken_brokers": [n.node_id for n in run.cluster.nodes]}
    return _under_load(run, "rolling_restart", fault)


def broker_down(run: Run) -> dict[str, Any]:
    """One broker away for `broker_down_seconds` (two still in sync take every write)."""
    def fault(run: Run, s: Settings) -> dict[str, Any]:
        node = run.cluster.nodes[-1].node_id
        run.cluster.stop_node(node, kill=True)
        log.info("chaos broker_down: broker %d down for %.0f s", node,
                 run.options.broker_down_seconds)
        time.sleep(run.options.broker_down_seconds)
        return {"down_broker": node, "broken_brokers": [node],
                "down_seconds": run.options.broker_down_seconds,
                "restart_seconds": _back(run.cluster, node)}
    return _under_load(run, "broker_down", fault)


def intake(run: Run) -> dict[str, Any]:
    """Events sent over HTTP while the intake is SIGKILLed mid-request (and started again)
    and every broker is frozen (SIGSTOP) for a while: the client sends each refused or cut
    off request again; every event a 200 answered is stored once, and none was answered
    accepted while no broker could take it (503 instead)."""
    opts = run.options
    s = run.namespace("intake", intake_port=free_port(), intake_delivery_seconds=2.0)
    with connect(s.database_url, s.db_schema, autocommit=True) as conn:
        key = sources.add(conn, "chaos", tuple(FEEDS), (), "chaos")
    url = f"http://127.0.0.1:{s.intake_port}"

    def start_intake(n: int) -> ManagedProcess:
        part = start_part(s, run.data_dir, f"intake-{n}", "intake")
        if not until(lambda: part.raise_if_exited() or healthz(s.intake_port) == 200, 60):
            raise ServiceError(f"chaos: the intake did not answer in 60 s:\n{part.log_tail()}")
        return part

    worker = start_worker(s, run.data_dir, "intake-worker")
    _ready(worker, s.worker_port)
    part = start_intake(0)
    client = IntakeClient(f"{url}/v1/events", key, opts.events, opts.rate, opts.seed + 7)
    client.start()
    rng = random.Random(opts.seed)
    frozen = False
    try:
        for kill in range(1, opts.intake_kills + 1):
            time.sleep(client.seconds / (opts.intake_kills + 2) * rng.uniform(0.7, 1.3))
            part.kill()
            log.info("chaos intake: SIGKILL %d/%d", kill, opts.intake_kills)
            part = start_intake(kill)
        before = dict(client.answers)
        for broker in run.brokers():
            broker.pause()
        frozen = True
        log.info("chaos intake: brokers frozen for %.0f s", opts.freeze_seconds)
        time.sleep(opts.freeze_seconds)
        for broker in run.brokers():
            broker.pause(False)
        frozen = False
        during = {k: v - before.get(k, 0) for k, v in client.answers.items()}
        client.wait(client.seconds + opts.settle_seconds)
        counts = _settle(Tally(s), len(client.acknowledged), 0, opts.settle_seconds)
        crashes = crash_reports(worker)
    finally:
        if frozen:
            for broker in run.brokers():
                broker.pause(False)
        part.stop()
        worker.stop()
    rows, distinct, _ = counts
    figures = {"produced": client.n, "acknowledged": len(client.acknowledged),
               "refused": client.refused, "stored_rows": rows, "stored_distinct": distinct,
               "duplicates": rows - distinct, "lost": len(client.acknowledged) - distinct,
               "intake_kills": opts.intake_kills, "freeze_seconds": opts.freeze_seconds,
               "answers": client.answers, "answers_while_frozen": during}
    return {**figures, "worker_crashed": bool(crashes), "crashes": crashes,
            "ok": figures["lost"] == 0 and figures["duplicates"] == 0
            and figures["acknowledged"] == client.n == distinct and client.refused == 0
            and during.get("503", 0) > 0 and not crashes}


SCENARIOS: dict[str, Callable[[Run], dict[str, Any]]] = {
    "worker_kill": worker_kill,
    "rebalance": rebalance,
    "database_outage": database_outage,
    "poison": poison,
    "notifier": notifier,
    "stalled_agent": stalled_agent,
}
# run only when named (`--scenario intake`): in one run of four on 8/12 the intake did not
# recover from the brokers' freeze in time (librdkafka: "Timed out 5 in-flight" requests,
# then the client's events not taken within 100 s); to be mended, then back in the defaults
NAMED_SCENARIOS: dict[str, Callable[[Run], dict[str, Any]]] = {
    "intake": intake,
}
# on the three Apache Kafka brokers only (`--broker kafka`)
BROKER_SCENARIOS: dict[str, Callable[[Run], dict[str, Any]]] = {
    "leader_kill": leader_kill,
    "controller_kill": controller_kill,
    "rolling_restart": rolling_restart,
    "broker_down": broker_down,
}


# --- the command ---------------------------------------------------------------------------


@contextmanager
def _services(data_dir: Path, settings: Settings, broker: str
              ) -> Iterator[tuple[EmbeddedPostgres, str, ApacheKafka | EmbeddedBroker]]:
    """The database and the broker: Tansu, or three Apache Kafka brokers (replication 3,
    two in sync to take a write)."""
    pg = EmbeddedPostgres(data_dir, free_port()).start()
    try:
        if broker == "kafka":
            ports = _distinct_ports(6)
            service = ApacheKafka(data_dir, ports[:3], ports[3:],
                                  fetch_jars(settings.kafka_jars or DEFAULT_JARS)).start()
        else:
            service = EmbeddedBroker(data_dir, free_port(), settings.tansu_bin).start()
        try:
            yield pg, service.bootstrap, service
        finally:
            service.stop()
    finally:
        pg.stop()


def _distinct_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ChaosOptions()
    parser.add_argument("--json", action="store_true",
                        help="one line of JSON per scenario (default: indented)")
    parser.add_argument("--quick", action="store_true",
                        help=f"the short run of the test suite ({QUICK.events} events, "
                             f"{QUICK.outage_seconds:.0f} s outage, "
                             f"{QUICK.receiver_down_seconds:.0f} s receiver down)")
    parser.add_argument("--scenario", action="append",
                        choices=sorted({**SCENARIOS, **NAMED_SCENARIOS, **BROKER_SCENARIOS}),
                        metavar="NAME", help="run only these (repeatable): "
                        + ", ".join(SCENARIOS) + "; only when named: "
                        + ", ".join(NAMED_SCENARIOS) + "; with --broker kafka also "
                        + ", ".join(BROKER_SCENARIOS))
    parser.add_argument("--broker", choices=("tansu", "kafka"), default=None,
                        help="tansu: the embedded Tansu broker; kafka: three Apache Kafka "
                             "brokers (replication 3, min.insync.replicas 2, idempotent "
                             "producers) and the broker scenarios (default: "
                             "IOC_EMBEDDED_BROKER)")
    parser.add_argument("--events", type=int, metavar="N",
                        help=f"events per stream scenario (default {d.events})")
    parser.add_argument("--rate", type=float, metavar="EPS",
                        help=f"events/s produced during the faults (default {d.rate:.0f})")
    parser.add_argument("--kills", type=int, metavar="K",
                        help=f"worker_kill: SIGKILLs (default {d.kills})")
    parser.add_argument("--outage-seconds", type=float, metavar="S",
                        help=f"database_outage: seconds PostgreSQL is down "
                             f"(default {d.outage_seconds:.0f})")
    parser.add_argument("--receiver-down-seconds", type=float, metavar="S",
                        help=f"notifier: seconds the webhook receiver is down "
                             f"(default {d.receiver_down_seconds:.0f})")
    parser.add_argument("--seed", type=int, help="seed of the kill times and the events")
    parser.add_argument("--times", type=int, default=1, metavar="N",
                        help="run each scenario N times in a row, on the same services, each "
                             "time in fresh namespaces (default 1)")


def options_from(args: argparse.Namespace) -> ChaosOptions:
    opts = QUICK if args.quick else ChaosOptions()
    changes = {k: v for k, v in (
        ("events", args.events), ("rate", args.rate), ("kills", args.kills),
        ("outage_seconds", args.outage_seconds),
        ("receiver_down_seconds", args.receiver_down_seconds), ("seed", args.seed))
        if v is not None}
    for name, value in changes.items():
        if name != "seed" and value <= 0:
            raise ServiceError(f"chaos: --{name.replace('_', '-')} must be > 0 (got {value})")
    return replace(opts, **changes)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the scenarios; print one JSON object each; 0 when all met their bars, else 1."""
    opts = options_from(args)
    broker = args.broker or settings.embedded_broker
    everything = {**SCENARIOS, **(BROKER_SCENARIOS if broker == "kafka" else {})}
    names = args.scenario or list(everything)
    everything.update(NAMED_SCENARIOS)
    wrong = [n for n in names if n not in everything]
    if args.times < 1:
        raise ServiceError(f"chaos: --times must be at least 1 (got {args.times})")
    if wrong:
        raise ServiceError(f"chaos: {', '.join(wrong)} needs the Apache Kafka brokers "
                           "(--broker kafka)")
    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services", "kafka", "aiokafka"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    failed: list[str] = []
    # under the data dir, not /tmp: the parts' logs stay there when a scenario fails
    work = settings.data_dir.resolve() / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    work.mkdir(parents=True, exist_ok=True)
    with _services(work, settings, broker) as (pg, bootstrap, service):
        chaos = Run(opts, work, pg, bootstrap, *((service, None) if broker == "kafka"
                                                 else (None, service)))
        for name, time_ in ((n, t) for n in names for t in range(1, args.times + 1)):
            title = name if args.times == 1 else f"{name} ({time_} of {args.times})"
            print(f"chaos: {title} ...", file=sys.stderr, flush=True)
            began = time.monotonic()
            try:
                result = everything[name](chaos)
            except (ServiceError, psycopg.Error, OSError, KafkaError) as exc:
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            result = {"scenario": name, "broker": broker,
                      **({"time": time_} if args.times > 1 else {}), **result,
                      "seconds": round(time.monotonic() - began, 1)}
            if not result["ok"]:
                failed.append(title)
            print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2),
                  flush=True)
            print(f"chaos: {title} {'ok' if result['ok'] else 'FAILED'} in "
                  f"{result['seconds']} s", file=sys.stderr, flush=True)
        chaos.spaces.drop()
    if failed:
        print(f"chaos: failed: {', '.join(failed)}; logs of every part in {work / 'logs'}",
              file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    runs = len(names) * args.times
    print(f"chaos: {runs - len(failed)} of {runs} scenario runs met their bars",
          file=sys.stderr)
    return 1 if failed else 0

