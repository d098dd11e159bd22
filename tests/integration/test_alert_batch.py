"""Rules evaluated over many steps at once (catch-up, backtests) give, step by step, what
each step gives alone (less the repeated observations of entities that are well, which
change no alert): every shipped event-time rule on a simulated morning with incidents
(a link down, a degraded link, a portal outage, a payment gateway failure, an agency
backlog); and the values computed outside the database (sliding windows, the overdue
stretches of dossiers) are the database's own aggregates at each step."""

from __future__ import annotations

import asyncio
import random
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
from streams.alerts.judging import is_well
from streams.alerts.lifecycle import Lifecycle, Observation
from streams.alerts.rules import LinkQualityRule, PipelineRule, Rule, load_rules
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


# each step alone in SQL, as the rules were once evaluated
REFERENCE = {
    "agency_backlog":
        "SELECT r.agency_code, count(*)::float FROM dossier_events r"
        " WHERE r.event_type = 'received' AND r.occurred_at > %(since)s"
        "   AND r.occurred_at <= %(at)s AND r.due_at < %(at)s AND NOT EXISTS (SELECT 1"
        "       FROM dossier_events d WHERE d.dossier_id = r.dossier_id"
        "        AND d.event_type = 'resolved' AND d.occurred_at <= %(at)s)"
        " GROUP BY r.agency_code",
    "link_latency_high":
        "SELECT link_id, avg(latency_ms) FROM link_heartbeats"
        " WHERE occurred_at > %(since)s AND occurred_at <= %(at)s GROUP BY link_id",
    "payment_failures":
        "SELECT category, CASE WHEN count(*) >= 50"
        "       THEN avg((status = 'succeeded')::int)::float END FROM payments"
        " WHERE occurred_at > %(since)s AND occurred_at <= %(at)s GROUP BY category",
}


def old_dossiers(conn, province) -> None:
    """Dossiers of the weeks before: some leave the 30-day window, fall due or are resolved
    during the morning, some long ago, some never (the agency backlog's edges)."""
    rng = random.Random(5)
    morning = timedelta(minutes=MINUTES)
    rows = []
    for i in range(400):
        if i < 100:  # received 30 days before a moment of the morning: it leaves the window
            received = START - timedelta(days=30) + morning * rng.random()
        else:
            received = START - timedelta(days=35) + timedelta(days=34) * rng.random()
        due = (START + morning * rng.random() if i % 5 == 0
               else received + timedelta(hours=1) + timedelta(days=10) * rng.random())
        agency = province.agencies[i % 4].code
        rows.append((f"old-r-{i}", received, "received", f"old-{i}", agency, due))
        kind = rng.random()
        if kind < 0.3:  # resolved during the morning
            rows.append((f"old-s-{i}", START + morning * rng.random(), "resolved", f"old-{i}",
                         agency, due))
        elif kind < 0.6:  # resolved some time after it came in, perhaps before the morning
            rows.append((f"old-s-{i}", received + timedelta(days=40) * rng.random(),
                         "resolved", f"old-{i}", agency, due))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dossier_events (event_id, occurred_at, unit_code, unit_codes,"
            " event_type, dossier_id, procedure_code, agency_code, due_at)"
            " VALUES (%s, %s, 'u', '{u}', %s, %s, 'p', %s, %s)", rows)


def told(steps: list[list[Observation]]) -> list[list[Observation]]:
    """`steps` less what `evaluate_many` may leave out: an entity's well observation that
    is the same as its observation at the previous step."""
    out, before = [], {}
    for step in steps:
        now = {tuple(o.labels.items()): o for o in step}
        out.append([o for key, o in now.items() if not (is_well(o) and before.get(key) == o)])
        before = now
    return out


def alerts_of(name: str, rule: Rule, steps: list[list[Observation]],
              ats: list[datetime]) -> tuple[list, dict]:
    """The transitions and final alert states the lifecycle makes of `steps`."""
    lifecycle = Lifecycle(load_rules(ALERT_RULES_DIR / "default.yaml").flapping)
    transitions = [t for at, step in zip(ats, steps, strict=True)
                   for t in lifecycle.observe(name, rule.for_seconds, step, at)]
    return transitions, lifecycle.to_json()


def alerts_in_batches(name: str, rule: Rule, evaluator: Evaluator, ats: list[datetime],
                      size: int) -> tuple[list, dict, int]:
    """The transitions and final alert states of the engine's way: batches of `size` steps,
    each evaluated knowing which entities have alerts (`Lifecycle.has_alert`), then
    observed step by step; and how many observations the batches gave."""
    lifecycle = Lifecycle(load_rules(ALERT_RULES_DIR / "default.yaml").flapping)
    transitions, told_ = [], 0
    for i in range(0, len(ats), size):
        batch = ats[i:i + size]
        steps = evaluator.evaluate_many(rule, batch, START, lifecycle.has_alert(name))
        told_ += sum(map(len, steps))
        transitions += [t for at, step in zip(batch, steps, strict=True)
                        for t in lifecycle.observe(name, rule.for_seconds, step, at)]
    return transitions, lifecycle.to_json(), told_


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
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        old_dossiers(conn, province)
    rules = load_rules(ALERT_RULES_DIR / "default.yaml").rules
    ats = [START + timedelta(seconds=s) for s in range(7, MINUTES * 60, 13)]
    breaches, alone, batched, left_out, unwatched = set(), {}, {}, 0, 0
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        evaluator = Evaluator(conn, province, load_calendar())
        for name, rule in rules.items():
            if isinstance(rule, PipelineRule):
                continue
            many = batched[name] = evaluator.evaluate_many(rule, ats, START)
            alone[name] = [evaluator.evaluate(rule, at, START) for at in ats]
            assert told(many) == told(alone[name]), name
            assert alerts_of(name, rule, many, ats) == alerts_of(name, rule, alone[name], ats)
            # the engine's way: well entities with no alert told once per stretch
            *engine_way, fewer = alerts_in_batches(name, rule, evaluator, ats, 17)
            assert engine_way == list(alerts_of(name, rule, alone[name], ats)), name
            unwatched += sum(map(len, many)) - fewer
            breaches |= {name for step in many for o in step if o.breach}
            left_out += sum(map(len, alone[name])) - sum(map(len, many))
        with evaluator.batch():  # the engine's batch: the link rules share one read
            for name, rule in rules.items():
                if isinstance(rule, LinkQualityRule):
                    assert evaluator.evaluate_many(rule, ats, START) == batched[name], name
        for name, query in REFERENCE.items():
            rule = rules[name]
            got = [sorted((o.labels.get("agency") or o.labels.get("link_id")
                           or o.labels["category"], o.value) for o in step)
                   for step in alone[name]]
            expected = [sorted(conn.execute(query, {
                "at": at, "since": at - timedelta(seconds=rule.window_seconds)}).fetchall())
                for at in ats]
            assert any(expected), name
            assert got == [[(k, v if v is None else pytest.approx(v, rel=1e-12))
                            for k, v in step] for step in expected], name
    # the incidents made the rules breach: the comparison is not of empty answers; and the
    # batch left out repeated well observations, as it is meant to
    assert left_out > 0 and unwatched > 0
    assert {"link_heartbeat_missing", "link_latency_high", "portal_errors",
            "payment_failures"} <= breaches, breaches
