"""The worker's real /metrics passes `promtool check metrics` (Prometheus' own linter)."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from proof.harness import Producer, make_events
from tests.conftest import REPO, wait_until

pytestmark = pytest.mark.integration


def test_worker_metrics_pass_promtool(migrated, worker):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make test-deps` installs Debian's prometheus package")
    producer = Producer(migrated.kafka_bootstrap)
    for feed, key, value in make_events(300, seed=31,
                                        start=datetime.now(UTC) - timedelta(minutes=1)):
        producer.send(migrated.topic(feed), key, value)
    producer.send(migrated.topic("portal"), b"bad", b"not json")  # a labelled dead letter too
    producer.flush()
    url = f"http://127.0.0.1:{migrated.worker_port}/metrics"

    def scraped() -> str | None:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
        wanted = ("ioc_events_dead_lettered_total{", "ioc_event_latency_seconds_bucket{",
                  "ioc_consumer_lag{")
        return text if all(w in text for w in wanted) else None

    text = wait_until(scraped, 60, what="metrics with samples of every family")
    for family in ("ioc_events_consumed_total", "ioc_events_stored_total",
                   "ioc_events_dead_lettered_total", "ioc_batch_events_bucket",
                   "ioc_db_write_seconds_bucket", "ioc_event_latency_seconds_bucket",
                   "ioc_consumer_lag", "ioc_newest_stored_event_timestamp_seconds",
                   "ioc_worker_stalled"):
        assert f"\n{family}" in text, family
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), (
        check.stdout + check.stderr)

    # the deploy/ rules are valid and only use metrics the worker really exports
    rules = REPO / "deploy" / "prometheus-rules.yml"
    for what, path in (("rules", rules), ("config", REPO / "deploy" / "prometheus.yml")):
        checked = subprocess.run([promtool, "check", what, str(path)], capture_output=True,
                                 text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    exported |= {f"{name}_total" for name in exported}
    used = set(re.findall(r"\b(ioc_[a-z_]+)", rules.read_text()))
    assert used <= exported, used - exported
