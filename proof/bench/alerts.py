"""`ioc bench --suite alerts`: alert latency and catch-up speed, printed as JSON.

1. breach -> firing, end to end: a feeder produces a heartbeat of every telemedicine link
   twice a second to the broker, a real `ioc worker` stores them, a real `ioc alerter`
   evaluates; links go silent one by one. For each, the breach is the moment its silence
   passes the rule's threshold (event time of its last heartbeat + the threshold); the
   latency is from then to the firing transition stored, minus the rule's `for` (the target:
   under 2 s). It includes the pipeline's own delay (broker, worker, database).
2. firing -> webhook: a real `ioc notifier` (group_wait and group_interval 0, so the figure is
   what comes after the grouping waits) delivers to a local receiver; latency from the firing
   transition being stored to the receiver getting it (target: p99 under 1 s).
3. catch-up: an in-process engine on the replay path evaluates an hour of stored events with
   the default rules; steps and event-time seconds per wall second.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from ioc import contract
from ioc.calendar import load_calendar
from ioc.db import connect
from ioc.errors import ServiceError
from ioc.province import load_province
from ioc.resources import ALERT_RULES_DIR
from ioc.settings import Settings
from ioc.topics import ensure_topics
from proof.harness import (
    Namespaces,
    Producer,
    WebhookReceiver,
    healthz,
    services,
    start_part,
    start_worker,
    wait_for,
)
from streams.alerts.engine import Engine
from streams.alerts.rules import load_rules

SILENT_SECONDS = 5.0
FOR_SECONDS = 3.0
TRIALS = 20


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": _pct(values, 0.5), "p99": _pct(values, 0.99),
            "max": round(max(values), 3) if values else None,
            "mean": round(statistics.fmean(values), 3) if values else None}


class _Feeder(threading.Thread):
    """Produces a heartbeat of every link not silenced, every `every` seconds (now)."""

    def __init__(self, settings: Settings, links: list[tuple[str, str, str, str]],
                 every: float = 0.5):
        super().__init__(daemon=True)
        self.producer = Producer(settings.kafka_bootstrap)
        self.topic = settings.topic("telemedicine")
        self.links = links
        self.every = every
        self.silent: dict[str, datetime] = {}   # link -> event time of its last heartbeat
        self.last: dict[str, datetime] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def silence(self, link: str) -> datetime:
        with self.lock:
            self.silent[link] = self.last[link]
            return self.last[link]

    def run(self) -> None:
        while not self.stop.wait(self.every):
            now = datetime.now(UTC)
            with self.lock:
                for link, hospital, hub, unit in self.links:
                    if link in self.silent:
                        continue
                    self.last[link] = now
                    event = contract.LinkHeartbeat(
                        event_id=uuid.uuid4().hex, schema_version=1, occurred_at=now,
                        unit_codes=[unit], feed="telemedicine", event_type="link.heartbeat",
                        data=contract.LinkHeartbeatData(
                            link_id=link, hospital_code=hospital, hub_code=hub, status="up",
                            latency_ms=40.0, jitter_ms=2.0, loss_pct=0.0))
                    self.producer.send(self.topic, link.encode(), contract.encode(event))
            self.producer.flush()


def measure_latency(settings: Settings, tmp: Path, trials: int) -> dict:
    province = load_province(settings.province_file)
    links = [(h.link_id, h.code, h.hub, h.unit) for h in province.hospitals]
    rules = yaml.safe_load((ALERT_RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    rules["rules"] = {"link_heartbeat_missing": {
        **rules["rules"]["link_heartbeat_missing"], "silent_seconds": SILENT_SECONDS,
        "clear_seconds": 1, "for_seconds": FOR_SECONDS}}
    rules["notifications"].update(group_wait_seconds=0, group_interval_seconds=0)
    rules_path = tmp / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    receiver = WebhookReceiver().up()
    s = settings.with_(alert_rules=rules_path, webhook_urls=(receiver.url,), log_level="WARNING")
    ensure_topics(s, s.kafka_bootstrap)
    parts = [start_worker(s, tmp, "worker")]
    feeder = _Feeder(s, links)
    try:
        wait_for(lambda: parts[0].raise_if_exited() or healthz(s.worker_port) == 200, 60,
                 "the worker to start")
        feeder.start()
        time.sleep(1.0)
        parts += [start_part(s, tmp, "alerter", "alerter"),
                  start_part(s, tmp, "notifier", "notifier")]
        with connect(s.database_url, s.db_schema, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while True:  # the engine is following live data
                row = conn.execute("SELECT step_at FROM alert_engine_state").fetchone()
                if row and row[0] and datetime.now(UTC) - row[0] < timedelta(seconds=3):
                    break
                for p in parts:
                    p.raise_if_exited()
                if time.monotonic() > deadline:
                    raise ServiceError("bench: the alerter did not catch up within 60 s")
                time.sleep(0.2)
            breaches = {}
            for link, *_ in links[:trials]:
                last = feeder.silence(link)
                breaches[link] = last + timedelta(seconds=SILENT_SECONDS)
                time.sleep(0.7)  # staggered: each firing lands on its own
            time.sleep(SILENT_SECONDS + FOR_SECONDS + 5)
            fired = {labels["link_id"]: (fp, recorded) for fp, labels, recorded in conn.execute(
                "SELECT fingerprint, labels, recorded_at FROM alert_transitions"
                " WHERE to_state = 'firing'")}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(receiver.first_firing()) < len(fired):
            time.sleep(0.1)
    finally:
        feeder.stop.set()
        if feeder.is_alive():
            feeder.join(10)
        for p in reversed(parts):
            p.stop()
        receiver.down()
    to_firing = [(fired[link][1] - breach).total_seconds() - FOR_SECONDS
                 for link, breach in breaches.items() if link in fired]
    firing = receiver.first_firing()
    to_webhook = [firing[fp] - recorded.timestamp()
                  for fp, recorded in fired.values() if fp in firing]
    return {
        "breaches": len(breaches), "fired": len(fired), "webhooks": len(to_webhook),
        "breach_to_firing_minus_for_seconds": _summary(to_firing),
        "firing_to_webhook_seconds": _summary(to_webhook),
        "rule": {"silent_seconds": SILENT_SECONDS, "for_seconds": FOR_SECONDS,
                 "step_seconds": rules["evaluation"]["step_seconds"],
                 "lateness_seconds": rules["evaluation"]["lateness_seconds"]},
    }


def measure_catch_up(settings: Settings, hours: float = 1.0) -> dict:
    """An hour of heartbeats (27 links / 5 s) and payments (one / 2 s) evaluated on the
    replay path with the default rules."""
    province = load_province(settings.province_file)
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    seconds = int(hours * 3600)
    with connect(settings.database_url, settings.db_schema, autocommit=True) as conn:
        with conn.cursor() as cur, cur.copy(
                "COPY link_heartbeats (event_id, occurred_at, unit_code, unit_codes, link_id,"
                " hospital_code, hub_code, status, latency_ms, jitter_ms, loss_pct,"
                " stored_at) FROM STDIN") as copy:
            old = start - timedelta(days=1)
            for s in range(0, seconds, 5):
                t = start + timedelta(seconds=s)
                for h in province.hospitals:
                    copy.write_row((uuid.uuid4().hex, t, h.unit, [h.unit], h.link_id, h.code,
                                    h.hub, "up", 40.0, 2.0, 0.0, old))
        with conn.cursor() as cur, cur.copy(
                "COPY payments (event_id, occurred_at, unit_code, unit_codes, payment_id,"
                " category, channel, amount_vnd, status, stored_at) FROM STDIN") as copy:
            for s in range(0, seconds, 2):
                t = start + timedelta(seconds=s)
                copy.write_row((uuid.uuid4().hex, t, "u", ["u"], f"p{s}", "hospital_fee",
                                "qr_code", 100000, "succeeded", old))
        conn.execute("ANALYZE")
        rules = load_rules(ALERT_RULES_DIR / "default.yaml")
        engine = Engine(conn, rules, province, load_calendar(), replay=True, name="bench")
        began = time.perf_counter()
        steps = engine.run_until(start + timedelta(seconds=seconds))
        took = time.perf_counter() - began
    return {"event_seconds": seconds, "steps": steps, "wall_seconds": round(took, 2),
            "steps_per_second": round(steps / took, 1),
            "event_seconds_per_wall_second": round(seconds / took, 1),
            "rules": len(rules.rules)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ioc bench --suite alerts` (added to the bench parser)."""
    parser.add_argument("--alert-trials", type=int, default=TRIALS, metavar="N",
                        help=f"alerts: links that go silent, one alert each (default {TRIALS},"
                             " at most 27)")
    parser.add_argument("--catchup-hours", type=float, default=1.0, metavar="H",
                        help="alerts: hours of stored events the catch-up evaluates (default 1)")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Measure; return the figures (printed as JSON by `ioc bench`)."""
    import logging


    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    trials = getattr(args, "alert_trials", TRIALS)
    hours = getattr(args, "catchup_hours", 1.0)
    if not 1 <= trials <= 27 or hours <= 0:
        raise ServiceError("bench: --alert-trials must be 1 to 27 and --catchup-hours > 0")
    with tempfile.TemporaryDirectory(prefix="ioc-bench-alerts-") as tmp_name, \
            services(settings, Path(tmp_name)) as base, Namespaces(base, "bench") as spaces:
        tmp = Path(tmp_name)
        latency = measure_latency(spaces.fresh("alerts", data_dir=tmp), tmp, trials)
        catch_up = measure_catch_up(spaces.fresh("catchup"), hours)
    firing, webhook = (latency["breach_to_firing_minus_for_seconds"],
                       latency["firing_to_webhook_seconds"])
    return {"suite": "alerts", "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "latency": latency, "catch_up": catch_up,
            "targets": {"breach_to_firing_minus_for_seconds_max": 2.0,
                        "firing_to_webhook_p99_seconds_max": 1.0,
                        "firing_met": latency["fired"] == latency["breaches"]
                        and firing["max"] is not None and firing["max"] <= 2.0,
                        "webhook_met": latency["webhooks"] == latency["fired"]
                        and webhook["p99"] is not None and webhook["p99"] < 1.0}}
