"""Event-time determinism with real parts: a scenario simulated live (paced) and recorded,
then that recording replayed with `ioc replay --speed max`, each through Kafka, a real
worker and a real `ioc alerter`, yields the same (rule, labels, starts_at, ends_at) set."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ioc.db import connect
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc.topics import ensure_topics
from proof.bench.identity import episodes_of_backtest, episodes_of_transitions
from simulators.recording import read_records
from streams.alerts.backtest import unlogged
from streams.sink import TABLE_COLUMNS
from tests.conftest import REPO, child_env, free_port, ioc_json, start_part, wait_http, wait_until

pytestmark = pytest.mark.integration

PROVINCE = load_province(REPO / "ioc/provinces/thanh-hoa.yaml")
START = "2026-03-02T09:00:00+07:00"  # a Monday morning: every feed is busy
MINUTES = 12
# Three incidents on different entities within the twelve minutes.
SCENARIO = {
    "schema_version": 1, "name": "replay-rehearsal", "title_vi": "Diễn tập phát lại",
    "title_en": "Replay rehearsal", "description": "Three incidents in twelve minutes.",
    "incidents": [
        {"kind": "link_down", "at": "1m", "duration": "4m"},
        {"kind": "link_degraded", "at": "2m", "duration": "5m",
         "hospital": PROVINCE.hospitals[1].code, "latency_ms": 450, "jitter_ms": 90,
         "loss_pct": 8},
        {"kind": "payment_gateway_failure", "at": "3m", "duration": "6m", "channel": "qr_code",
         "success_ratio": 0.1},
    ],
}


def ioc(settings, *args: str) -> dict:
    return ioc_json(settings, *args)


def episodes(url: str, schema: str, cutoff: datetime) -> set[tuple]:
    """(rule, labels, starts_at, ends_at) of every firing episode up to `cutoff`."""
    with connect(url, schema, autocommit=True) as conn:
        return episodes_of_transitions(conn.execute(
            "SELECT rule, labels, to_state, at FROM alert_transitions"
            " WHERE at <= %s ORDER BY id", (cutoff,)).fetchall())


def test_replay_of_a_recording_at_max_speed_raises_the_same_alerts_as_live(migrated,
                                                                          tmp_path: Path):
    rules = yaml.safe_load((REPO / "ioc/rules/default.yaml").read_text())
    # pipeline rules describe the running system (wall time): not part of the replay promise
    rules["rules"] = {n: r for n, r in rules["rules"].items() if r["kind"] != "pipeline"}
    # the "live" run is paced 40x faster than real time, so the worker's batching skew
    # between partitions (~0.5 s wall) is ~20 s of event time: allow for it
    rules["evaluation"]["lateness_seconds"] = 30
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    scenario = tmp_path / "rehearsal.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO, allow_unicode=True), encoding="utf-8")
    recording = tmp_path / "live.jsonl.gz"
    live = migrated.with_(alert_rules=rules_path)
    replay = live.for_replay().with_(worker_port=free_port())
    migrate_database(replay, replay.database_url)
    ensure_topics(replay, replay.kafka_bootstrap)
    parts = [start_part(live, "worker", "worker"), start_part(replay, "replay-worker", "worker")]
    try:
        for part, s in zip(parts, (live, replay), strict=True):
            wait_http(f"http://127.0.0.1:{s.worker_port}/healthz", 60, part)
        parts += [start_part(live, "alerter", "alerter"),
                  start_part(live, "replay-alerter", "alerter", "--replay")]
        # live: the simulator paced at 40x (18 s), recording exactly what it sends
        sent = ioc(live, "simulate", "--start", START, "--speed", "40", "--duration",
                   str(MINUTES * 60), "--seed", "4", "--scenario", str(scenario),
                   "--record", str(recording))
        # the recording, as fast as it goes, into the replay namespace
        replayed = ioc(live, "replay", str(recording), "--speed", "max")
        assert replayed["events"] == sent["events"] > 3000
        last = datetime.fromtimestamp(max(r.event_time for r in read_records(recording)),
                                      tz=datetime.fromisoformat(START).tzinfo)

        def caught_up(s, name):
            with connect(s.database_url, s.db_schema, autocommit=True) as conn:
                row = conn.execute("SELECT step_at FROM alert_engine_state WHERE engine = %s",
                                   (name,)).fetchone()
            return row and row[0] and row[0] >= last - timedelta(seconds=40)

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
    # the scenario's incidents raised their alerts, each for its own entity
    assert {"watchdog", "link_heartbeat_missing", "link_latency_high",
            "payment_failures"} <= rules_fired, got_live
    by_rule = {rule: {json.loads(labels).get("link_id") for r, labels, *_ in got_live
                      if r == rule} for rule in ("link_heartbeat_missing", "link_latency_high")}
    assert by_rule == {"link_heartbeat_missing": {PROVINCE.hospitals[0].link_id},
                       "link_latency_high": {PROVINCE.hospitals[1].link_id}}
    assert got_live == got_replay

    # the same recording backtested (no broker, no worker, no alerter): the same episodes up
    # to the same cutoff, the watchdog left out (it watches the running system, not the data)
    def backtest(*extra: str, source: tuple[str, ...] = ("--recording", str(recording))
                 ) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ioc_command.cli", "backtest", *source,
             "--rules", str(rules_path), "--json", *extra], env=child_env(live), cwd=REPO,
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "backtest: run " in done.stderr  # progress and the run id on stderr
        return done.stdout

    first = backtest()
    # byte-identical for the same input and rules, whether one engine evaluates every rule
    # or the rules are split over several processes (the default: one per core)
    assert backtest("--workers", "1") == first
    assert backtest("--workers", "3") == first
    result = json.loads(first)
    assert result["left_out"] == ["watchdog"]
    assert result["events"]["stored"] == sent["events"]
    assert episodes_of_backtest(result, cutoff) == {
        e for e in got_live if e[0] != "watchdog"}
    assert result["summary"]["link_latency_high"]["fired"] >= 1

    # a rules file with a higher latency threshold: the diff names what no longer fires
    relaxed = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
    relaxed["rules"]["link_latency_high"].update(threshold=2000, clear=1500)
    relaxed_path = tmp_path / "relaxed.yaml"
    relaxed_path.write_text(yaml.safe_dump(relaxed, allow_unicode=True), encoding="utf-8")
    compared = json.loads(backtest("--against", str(relaxed_path)))["against"]
    assert {e["rule"] for e in compared["only_with_rules"]} == {"link_latency_high"}
    assert compared["only_with_against"] == []
    assert "link_latency_high" not in compared["summary"]

    # the same events as stored history of the live namespace (--from/--to): the same alerts
    stored = json.loads(backtest(source=("--from", START, "--to",
                                         (last + timedelta(seconds=1)).isoformat())))
    assert stored["events"]["stored"] == result["events"]["stored"]
    assert stored["alerts"] == result["alerts"]
    # the copy builds the event tables' indexes after the rows: all of them are back
    indexes = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
               " AND tablename = ANY(%s) AND indexname NOT LIKE '%%key%%' ORDER BY 1")
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        live_indexes = conn.execute(indexes, (list(TABLE_COLUMNS),)).fetchall()
    with connect(migrated.database_url, migrated.for_backtest().db_schema,
                 autocommit=True) as conn:
        assert conn.execute(indexes, (list(TABLE_COLUMNS),)).fetchall() == live_indexes
    assert len(live_indexes) >= len(TABLE_COLUMNS)
    # a copy of history stores without the unique constraint its rows already kept; the
    # next run puts it back before storing a recording through the sink: the same result
    assert backtest() == first
    # the backtest's event tables are unlogged (every run reloads them): none left to change
    with connect(migrated.database_url, migrated.for_backtest().db_schema,
                 autocommit=True) as conn:
        assert unlogged(conn) == []
        persistence = dict(conn.execute(
            "SELECT relname, relpersistence FROM pg_class WHERE relname = ANY(%s)"
            " AND relnamespace = current_schema()::regnamespace", (list(TABLE_COLUMNS),)))
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
                            ).fetchone():  # hypertables stay as they are
            assert persistence == dict.fromkeys(TABLE_COLUMNS, "u")
