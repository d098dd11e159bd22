"""Rules evaluated over many steps in one query (catch-up, backtests) give, step by step,
what each step gives alone: every shipped event-time rule on a simulated morning with
incidents (a link down, a degraded link, a portal outage, a payment gateway failure, an
agency backlog)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.calendar import load_calendar
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from ioc.province import load_province
from ioc.resources import ALERT_RULES_DIR
from simulators.generator import ProvinceSimulator
from simulators.scenarios import Scenario, resolve
from streams.alerts.evaluate import Evaluator
from streams.alerts.rules import PipelineRule, load_rules
from streams.sink import EventSink

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam
MINUTES = 20
INCIDENTS = [{"kind": "link_down", "at": "2m", "duration": "6m"},
             {"kind": "link_degraded", "at": "3m", "duration": "8m", "latency_ms": 450,
              "jitter_ms": 90, "loss_pct": 8},
             {"kind": "portal_outage", "at": "5m", "duration": "6m"},
             {"kind": "payment_gateway_failure", "at": "6m", "duration": "6m",
              "success_ratio": 0.1},
             {"kind": "agency_backlog", "at": "1m", "duration": "15m"}]


def test_many_steps_at_once_equal_each_step_alone(migrated):
    province = load_province(migrated.province_file)
    scenario = Scenario.model_validate({
        "schema_version": 1, "name": "batch", "title_vi": "x", "title_en": "x",
        "description": "x", "incidents": INCIDENTS})
    incidents = resolve(scenario, province, START.timestamp())
    records = ProvinceSimulator(province, seed=9, incidents=incidents).events_between(
        START, START + timedelta(minutes=MINUTES))
    now = START + timedelta(hours=1)
    events = [contract.decode(r.value, r.feed, now) for r in records]  # no bad-data burst
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)

    async def store() -> None:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            await sink.write(events)
        finally:
            await sink.close()

    asyncio.run(store())
    rules = load_rules(ALERT_RULES_DIR / "default.yaml").rules
    ats = [START + timedelta(seconds=s) for s in range(7, MINUTES * 60, 13)]
    breaches = set()
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        evaluator = Evaluator(conn, province, load_calendar())
        for name, rule in rules.items():
            if isinstance(rule, PipelineRule):
                continue
            many = evaluator.evaluate_many(rule, ats, START)
            alone = [evaluator.evaluate(rule, at, START) for at in ats]
            assert many == alone, name
            breaches |= {name for step in many for o in step if o.breach}
    # the incidents made the rules breach: the comparison is not of empty answers
    assert {"link_heartbeat_missing", "link_latency_high", "portal_errors",
            "payment_failures"} <= breaches, breaches
