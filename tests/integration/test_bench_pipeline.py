"""`ioc bench --suite pipeline` end to end, short: sane figures and exact row counts.

Speed is not asserted here (figures go to docs/performance.md); this proves the command
measures what it says: every event stored once by each path, percentiles over exactly the
latency run's events, and the schemas it made dropped afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ioc.db import connect
from tests.conftest import REPO, child_env

pytestmark = pytest.mark.integration


def test_short_pipeline_bench_prints_sane_figures(settings):
    run = subprocess.run(
        [sys.executable, "-m", "ioc_command.cli", "bench", "--suite", "pipeline", "--json",
         "--events", "3000", "--latency-rate", "400", "--latency-seconds", "1.5",
         "--rounds", "2"],
        env=child_env(settings), cwd=REPO, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout)
    assert figures["events"] == 3000
    for path in ("faust", "plain_aiokafka"):
        assert figures[path]["stored"] == 3000, path
        assert figures[path]["events_per_s"] > 0 and figures[path]["seconds"] > 0
        assert figures[path]["events_per_s"] == max(figures[path]["rounds_events_per_s"])
        assert len(figures[path]["rounds_events_per_s"]) == 2
    assert figures["raw_copy"]["rows"] == 3000 and figures["raw_copy"]["rows_per_s"] > 0
    assert figures["ratio_faust_to_plain"] == round(
        figures["faust"]["events_per_s"] / figures["plain_aiokafka"]["events_per_s"], 3)
    latency = figures["latency"]
    assert latency["events"] == 600
    assert 0 < latency["p50_s"] <= latency["p99_s"] <= latency["max_s"]
    assert 20 < figures["worker_peak_rss_mb"] < 2000
    # the targets are judged from the figures (speed itself is not asserted here)
    targets = figures["targets"]
    assert targets["rss_met"] == (figures["worker_peak_rss_mb"] <= 300)
    assert targets["latency_met"] == (latency["p99_s"] <= 1.0)
    assert figures["embedded"] == {"database": False, "broker": False}
    with connect(settings.database_url, "public") as conn:
        left = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench%'"
                            ).fetchone()[0]
    assert left == 0


def test_the_pipeline_bench_runs_on_tansu_and_apache_kafka_side_by_side(settings):
    """Issue 17, item 6: `--broker both` starts each embedded broker in turn (the database
    stays the session's) and prints their figures side by side."""
    env = {k: v for k, v in child_env(settings).items() if k != "IOC_KAFKA_BOOTSTRAP"}
    run = subprocess.run(
        [sys.executable, "-m", "ioc_command.cli", "bench", "--suite", "pipeline", "--json",
         "--events", "1000", "--latency-rate", "200", "--latency-seconds", "1",
         "--rounds", "1", "--broker", "both"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout)
    assert set(figures["brokers"]) == {"tansu", "kafka"}
    for broker, one in figures["brokers"].items():
        assert one["broker"] == broker and one["embedded"]["broker"]
        assert one["faust"]["stored"] == one["plain_aiokafka"]["stored"] == 1000, broker
        assert one["latency"]["events"] == 200
        assert figures["side_by_side"]["latency_p99_s"][broker] == one["latency"]["p99_s"]
        assert figures["targets"][f"{broker}_latency_met"] == one["targets"]["latency_met"]
    # a broker chosen while an external one is configured is refused, plainly
    refused = subprocess.run(
        [sys.executable, "-m", "ioc_command.cli", "bench", "--suite", "pipeline", "--broker",
         "kafka"], env=child_env(settings), cwd=REPO, capture_output=True, text=True,
        timeout=60)
    assert refused.returncode != 0 and "IOC_KAFKA_BOOTSTRAP" in refused.stderr
    assert "Traceback" not in refused.stderr
