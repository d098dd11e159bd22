"""`ioc bench --suite feeds|alerts|wall|backtest|intake`, short: each runs end to end on the
session's services and prints figures that add up, with its targets judged from them.

Speed is not asserted (figures go to docs/performance.md; this machine is shared)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_ioc

pytestmark = pytest.mark.integration


def bench(settings, *args: str) -> dict:
    run = run_ioc("bench", "--json", *args, settings=settings)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_feeds_bench(settings):
    figures = bench(settings, "--suite", "feeds", "--sim-hours", "0.5", "--national-hours", "0")
    produced = figures["generate_and_produce"]
    # the same seeded half hour, generated, produced and recorded, then replayed in full
    assert produced["events"] == figures["generate_only"]["events"] \
        == figures["record_only"]["events"] == figures["replay_max_speed"]["events"] > 1000
    assert figures["targets"]["generate_and_produce_met"] == (produced["events_per_s"] >= 100_000)
    assert "national_x63_generate_and_produce" not in figures


def test_alerts_bench(settings):
    figures = bench(settings, "--suite", "alerts", "--alert-trials", "3",
                    "--catchup-hours", "0.05")
    latency = figures["latency"]
    assert latency["breaches"] == latency["fired"] == latency["webhooks"] == 3
    firing = latency["breach_to_firing_minus_for_seconds"]
    assert firing["n"] == 3 and firing["p50"] <= firing["max"]
    assert figures["targets"]["firing_met"] == (firing["max"] <= 2.0)
    assert figures["catch_up"]["steps"] == 180  # 0.05 h of 1 s steps


def test_wall_bench(settings):
    figures = bench(settings.with_(refresh_seconds=1), "--suite", "wall", "--days", "0.1",
                    "--refreshes", "5", "--walls", "4")
    assert figures["refreshes"] == 5 and figures["rows_total"] > 1000
    pages = figures["page_refresh_server_ms"]
    assert set(pages) == {"overview", "portal", "telemedicine", "payments"}
    assert all(0 < ms["p50"] <= ms["p95"] <= ms["max"] for ms in pages.values())
    assert figures["targets"]["refresh_met"] == (max(ms["p95"] for ms in pages.values()) <= 150)
    statements = figures["statements_per_3_intervals"]
    assert statements["1_wall"] > 0 and figures["targets"]["walls_met"] == (
        statements["4_walls"] <= statements["1_wall"])
    assert figures["targets"]["walls_met"]  # shared reads hold whatever the machine's speed


def test_backtest_bench(settings):
    # a quarter of an hour from midnight (the scenario starts at 09:00: no incident)
    figures = bench(settings, "--suite", "backtest", "--backtest-hours", "0.25")
    assert figures["events"] == figures["stored"] + figures["refused"] > 1000
    assert figures["rules_evaluated"] == 13  # the shipped rules minus the wall-time ones
    seconds = figures["seconds"]
    assert 0 < seconds["store"] + seconds["evaluate"] <= seconds["backtest"]
    assert figures["targets"]["day_met"] == (seconds["backtest"] * 24 / 0.25 <= 60)


def test_intake_bench(settings):
    """Issue 41, item 7, short: a real intake loaded at batches of 1, 100 and 1,000 beside the
    direct producer, then paced at ten times the province's peak rate."""
    figures = bench(settings, "--suite", "intake", "--intake-events", "2000",
                    "--intake-clients", "10", "--intake-paced-requests", "3")
    batches = figures["batches"]
    assert {b: r["accepted"] for b, r in batches.items()} == {"1": 200, "100": 2000,
                                                              "1000": 2000}
    assert all(r["statuses"] == {"200": r["requests"]} for r in batches.values())
    assert figures["direct_producer"]["events"] == 2000
    paced = figures["paced"]
    assert paced["accepted"] == 300 and paced["paced_events_per_s"] == pytest.approx(
        10 * paced["peak_events_per_s"], rel=0.02)
    ratio = batches["1000"]["events_per_s"] / figures["direct_producer"]["events_per_s"]
    assert figures["targets"]["ratio_batch_1000_to_direct_met"] == (ratio >= 0.5)
    assert figures["targets"]["paced_p99_ms_met"] == (paced["p99_ms"] <= 250)
