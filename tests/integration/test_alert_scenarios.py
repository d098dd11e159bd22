"""The shipped rules fire on the shipped incident scenarios: each scenario is simulated,
sent through Kafka to a real worker, and the stored events are evaluated by the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from ioc.calendar import load_calendar
from ioc.db import connect
from ioc.province import load_province
from ioc.resources import ALERT_RULES_DIR, PROVINCES_DIR
from simulators.generator import ProvinceSimulator
from simulators.producer import FeedProducer
from simulators.scenarios import load_scenario, resolve, scenario_path
from streams.alerts.engine import Engine
from streams.alerts.rules import RulesFile
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Thanh Hoa
PROVINCE = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
FIRST_LINK = PROVINCE.hospitals[0].link_id
FIRST_PORTAL = PROVINCE.portals[0].code


def _rules() -> RulesFile:
    doc = yaml.safe_load((ALERT_RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    # 10 s steps keep the catch-up short; every rule and threshold is the shipped one
    doc["evaluation"]["step_seconds"] = 10
    for rule in doc["rules"].values():
        if rule.get("every_seconds", 60) < 10:
            rule["every_seconds"] = 10
    return RulesFile.model_validate(doc)


def _stored(conn) -> int:
    return conn.execute("SELECT sum(rows_stored) FROM feed_stats").fetchone()[0]


@pytest.mark.parametrize(("scenario", "minutes", "expected"), [
    ("hospital-link-down", 30, {("link_heartbeat_missing", "link_id", FIRST_LINK)}),
    ("link-degraded", 25, {("link_latency_high", "link_id", FIRST_LINK),
                           ("link_loss_high", "link_id", FIRST_LINK)}),
    ("portal-outage", 25, {("portal_errors", "portal", FIRST_PORTAL)}),
    ("payment-gateway-failure", 25, {("payment_failures", None, None)}),
    ("feed-silence", 30, {("payments_feed_stale", "feed", "payments")}),
])
def test_shipped_rules_fire_on_scenarios(migrated, worker, scenario, minutes, expected):
    incidents = resolve(load_scenario(scenario_path(scenario)), PROVINCE, START.timestamp())
    sim = ProvinceSimulator(PROVINCE, seed=3, incidents=incidents)
    end = START + timedelta(minutes=minutes)
    records = sim.events_between(START, end)
    producer = FeedProducer(migrated, migrated.kafka_bootstrap)
    producer.send(records)
    producer.flush()
    del producer  # closes the client now, not when the session's broker is already gone
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        # every event stored before the rules run (each event is one row)
        wait_until(lambda: _stored(conn) == len(records), 120,
                   what=f"the worker to store all {len(records)} events")
        engine = Engine(conn, _rules(), PROVINCE, load_calendar(), replay=True)
        engine.run_until(end)
        fired = conn.execute("SELECT DISTINCT t.rule, t.labels FROM alert_transitions t"
                             " WHERE t.to_state = 'firing'").fetchall()
        summaries = dict(conn.execute("SELECT rule, summary_vi FROM alerts").fetchall())
    rules_fired = sorted({r for r, _ in fired})
    for rule, key, value in expected:
        matching = [labels for r, labels in fired if r == rule]
        assert matching, f"{rule} did not fire on {scenario}; fired: {rules_fired}"
        if key is not None:
            assert {labels[key] for labels in matching} == {value}, matching
        # the message names where: the district, the portal, or the province for a
        # province-wide alert
        units = {u.code: u.name_vi for u in PROVINCE.units}
        where = {"link_id": next((units[h.unit] for h in PROVINCE.hospitals
                                  if h.link_id == value), None),
                 "portal": next((p.name_vi for p in PROVINCE.portals if p.code == value), None),
                 }.get(key, PROVINCE.province.name_vi)
        assert where and where in summaries[rule], summaries[rule]
    # nothing else broke: no other link, portal or payment alerted (a normal half hour raises
    # no false alarm)
    others = {r for r, _ in fired} - {r for r, _, _ in expected} - {"watchdog"}
    assert not (others & {"link_heartbeat_missing", "portal_errors", "feed_stale",
                          "payment_failures"}), others
