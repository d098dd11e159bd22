"""Event-time determinism with real parts: the same feed sent live (paced) and replayed as
fast as possible, each through Kafka, a real worker and a real `ioc alerter`, yields the
same (rule, labels, starts_at, ends_at) set."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from ioc import contract
from ioc.db import connect
from ioc.province import load_province
from ioc.stack import migrate_database
from ioc.topics import ensure_topics
from tests.conftest import REPO, free_port, start_part, wait_http, wait_until

pytestmark = pytest.mark.integration

PROVINCE = load_province(REPO / "ioc/provinces/thanh-hoa.yaml")
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Thanh Hoa
MINUTES = 10


def feed() -> list[tuple[str, bytes, bytes, datetime]]:
    """(feed, key, value, event time) in event-time order: heartbeats of every link every
    5 s (the first link silent 2-5 min, the second slow 3-6 min), payments every 2 s
    (all failing 4-5 min)."""
    rng = random.Random(7)
    out = []
    hospitals = PROVINCE.hospitals
    for s in range(0, MINUTES * 60):
        t = T0 + timedelta(seconds=s)
        if s % 5 == 0:
            for i, h in enumerate(hospitals):
                if i == 0 and 120 <= s < 300:
                    continue
                slow = i == 1 and 180 <= s < 360
                ev = contract.LinkHeartbeat(
                    event_id=f"hb-{h.code}-{s}", schema_version=1, occurred_at=t,
                    unit_codes=[h.unit], feed="telemedicine", event_type="link.heartbeat",
                    data=contract.LinkHeartbeatData(
                        link_id=h.link_id, hospital_code=h.code, hub_code=h.hub, status="up",
                        latency_ms=400.0 if slow else 40.0 + rng.random() * 5, jitter_ms=2.0,
                        loss_pct=0.0))
                out.append(("telemedicine", h.link_id.encode(), contract.encode(ev), t))
        if s % 2 == 0:
            ev = contract.Payment(
                event_id=f"payment-{s:05d}", schema_version=1, occurred_at=t,
                unit_codes=[PROVINCE.units[0].code], feed="payments",
                event_type="payment.completed",
                data=contract.PaymentData(
                    payment_id=f"p{s}", category="hospital_fee", channel="qr_code",
                    amount_vnd=150000, status="failed" if 240 <= s < 300 else "succeeded"))
            out.append(("payments", f"p{s}".encode(), contract.encode(ev), t))
    return out


def send(settings, bootstrap: str, events, speed: float | None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    start = time.monotonic()
    for feed_name, key, value, t in events:
        if speed is not None:
            due = (t - T0).total_seconds() / speed
            while time.monotonic() - start < due:
                producer.poll(0.01)
        producer.produce(settings.topic(feed_name), value=value, key=key)
        producer.poll(0)
    assert producer.flush(30) == 0


def episodes(url: str, schema: str, cutoff: datetime) -> set[tuple]:
    """(rule, labels, starts_at, ends_at) of every firing episode up to `cutoff`."""
    with connect(url, schema, autocommit=True) as conn:
        rows = conn.execute("SELECT rule, labels, to_state, at FROM alert_transitions"
                            " WHERE at <= %s ORDER BY id", (cutoff,)).fetchall()
    open_, done = {}, set()
    for rule, labels, to_state, at in rows:
        key = (rule, json.dumps(labels, sort_keys=True))
        if to_state == "firing" and key not in open_:
            open_[key] = at
        elif to_state == "resolved" and key in open_:
            done.add((*key, open_.pop(key), at))
    return done | {(*key, starts, None) for key, starts in open_.items()}


def test_replay_at_max_speed_raises_the_same_alerts_as_live(migrated, tmp_path: Path):
    rules = yaml.safe_load((REPO / "streams/alerts/rules/default.yaml").read_text())
    # pipeline rules describe the running system (wall time): not part of the replay promise
    rules["rules"] = {n: r for n, r in rules["rules"].items() if r["kind"] != "pipeline"}
    # the "live" run is paced 40x faster than real time, so the worker's batching skew
    # between partitions (~0.5 s wall) is ~20 s of event time: allow for it
    rules["evaluation"]["lateness_seconds"] = 30
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    live = migrated.with_(alert_rules=rules_path)
    replay = live.for_replay().with_(worker_port=free_port())
    migrate_database(replay, replay.database_url)
    ensure_topics(replay, replay.kafka_bootstrap)
    events = feed()
    parts = [start_part(live, "worker", "worker"), start_part(replay, "replay-worker", "worker")]
    try:
        for part, s in zip(parts, (live, replay), strict=True):
            wait_http(f"http://127.0.0.1:{s.worker_port}/healthz", 60, part)
        parts += [start_part(live, "alerter", "alerter"),
                  start_part(live, "replay-alerter", "alerter", "--replay")]
        send(live, live.kafka_bootstrap, events, speed=40.0)     # live, paced: 15 s
        send(replay, replay.kafka_bootstrap, events, speed=None)  # as fast as possible
        last = events[-1][3]

        def caught_up(s, name):
            with connect(s.database_url, s.db_schema, autocommit=True) as conn:
                row = conn.execute("SELECT step_at FROM alert_engine_state WHERE engine = %s",
                                   (name,)).fetchone()
            return row and row[0] >= last - timedelta(seconds=40)

        wait_until(lambda: caught_up(live, "alerter"), 90, what="live engine caught up")
        wait_until(lambda: caught_up(replay, "replay"), 90, what="replay engine caught up")
        for part in parts:
            assert part.exit_code() is None, part.log_tail(20)
    finally:
        for part in reversed(parts):
            part.stop()
    with connect(live.database_url, live.db_schema, autocommit=True) as conn:
        cutoff = conn.execute("SELECT step_at FROM alert_engine_state").fetchone()[0]
    got_live = episodes(live.database_url, live.db_schema, cutoff)
    got_replay = episodes(live.database_url, replay.db_schema, cutoff)
    rules_fired = {r for r, *_ in got_live}
    # the feed's incidents raised their alerts, each for its own entity
    assert {"watchdog", "link_heartbeat_missing", "link_latency_high",
            "payment_failures"} <= rules_fired, got_live
    missing = [e for e in got_live if e[0] == "link_heartbeat_missing"]
    assert [json.loads(e[1])["link_id"] for e in missing] == [PROVINCE.hospitals[0].link_id]
    assert got_live == got_replay
