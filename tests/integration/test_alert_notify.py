"""Notifications with real parts: the durable outbox against a local webhook receiver that
fails and recovers (10 minutes on an injected clock; and across a restart of the real
`ioc notifier` process), a real Alertmanager 0.25 receiving pushed alerts, and the
`ioc alerts` operator commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ioc.db import WRITER_ROLE, connect, role_url
from ioc.services.process import ManagedProcess
from proof.harness import WebhookReceiver
from streams.alerts.notify import Notifier
from streams.alerts.rules import Notifications
from tests.conftest import REPO, free_port, run_ioc, start_part, wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def transitions(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    return [(a["labels"]["alertname"], a["status"])
            for body in receiver.bodies for a in body["alerts"]]


@pytest.fixture
def receiver():
    r = WebhookReceiver().up()
    yield r
    r.down()


def put_alert(conn, rule: str, state: str, starts: datetime, ends: datetime | None = None,
              labels: dict | None = None) -> None:
    labels = labels or {"unit": "thanh-hoa-city"}
    conn.execute(
        "INSERT INTO alerts (fingerprint, rule, labels, severity, state, value, threshold,"
        " summary_vi, summary_en, starts_at, ends_at, updated_at)"
        " VALUES (%s, %s, %s, 'critical', %s, 95, 60, %s, %s, %s, %s, %s)"
        " ON CONFLICT (fingerprint) DO UPDATE SET state = EXCLUDED.state,"
        " ends_at = EXCLUDED.ends_at",
        (f"fp-{rule}", rule, json.dumps(labels), state, f"Cảnh báo {rule}: 95 (ngưỡng 60)",
         f"Alert {rule}: 95 (threshold 60)", starts, ends, starts))


@pytest.fixture
def owner(migrated):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        yield conn


def test_receiver_down_ten_minutes_gets_everything_in_order_once(migrated, owner, receiver):
    now = [T0]
    writer = connect(role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password),
                     migrated.db_schema, autocommit=True)
    notifier = Notifier(writer, Notifications(group_wait_seconds=10, group_interval_seconds=60,
                                              retry_min_seconds=1, retry_max_seconds=30),
                        webhook_urls=(receiver.url,), alertmanager_url=None,
                        wall_url="http://wall:8050", clock=lambda: now[0])

    def tick(seconds: float) -> None:
        now[0] = T0 + timedelta(seconds=seconds)
        notifier.plan()
        while notifier.deliver():
            pass

    receiver.failing = True
    put_alert(owner, "link_missing", "firing", T0)
    put_alert(owner, "portal_errors", "firing", T0)
    for s in range(0, 100, 5):
        tick(s)
    put_alert(owner, "link_missing", "resolved", T0, T0 + timedelta(seconds=100))
    for s in range(100, 600, 5):
        tick(s)
    assert receiver.bodies == [] and receiver.calls > 20  # retried all along, backing off
    attempts = owner.execute("SELECT count(*), max(attempts) FROM notification_outbox"
                             " WHERE delivered_at IS NULL").fetchone()
    assert attempts[0] == 3 and 10 < attempts[1] < 40  # capped backoff: about every 30 s
    # in order per receiver: only the oldest was retried, always with the same key
    assert len(set(receiver.keys)) == 1 and None not in receiver.keys
    receiver.failing = False
    tick(630)
    assert sorted(transitions(receiver)) == [("link_missing", "firing"),
                                              ("link_missing", "resolved"),
                                              ("portal_errors", "firing")]
    # per receiver in order: firing before resolved
    assert transitions(receiver).index(("link_missing", "firing")) < \
        transitions(receiver).index(("link_missing", "resolved"))
    for s in range(630, 700, 5):
        tick(s)
    assert len(receiver.bodies) == 3  # nothing repeated
    assert len(set(receiver.keys)) == 3  # one key per notification, however often it was sent
    writer.close()


def _rules(tmp_path: Path, **notifications) -> Path:
    src = yaml.safe_load((REPO / "ioc/rules/default.yaml").read_text())
    src["notifications"].update(notifications)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(src, allow_unicode=True), encoding="utf-8")
    return path


def test_notifier_restart_loses_nothing_and_repeats_at_most_once(migrated, owner, receiver,
                                                                 tmp_path):
    settings = migrated.with_(webhook_urls=(receiver.url,), alert_rules=_rules(
        tmp_path, group_wait_seconds=0, group_interval_seconds=0, retry_min_seconds=0.2,
        retry_max_seconds=0.5))
    receiver.failing = True
    put_alert(owner, "link_missing", "firing", T0)
    part = start_part(settings, "notifier", "notifier")
    try:
        wait_until(lambda: (owner.execute("SELECT max(attempts) FROM notification_outbox"
                                          ).fetchone()[0] or 0) >= 2, 30, what="retries")
    finally:
        part.stop()
    put_alert(owner, "link_missing", "resolved", T0, T0 + timedelta(seconds=100))
    part = start_part(settings, "notifier", "notifier")
    try:
        wait_until(lambda: owner.execute("SELECT count(*) FROM notification_outbox"
                                         ).fetchone()[0] == 2, 30, what="resolved queued")
        receiver.failing = False
        wait_until(lambda: len(receiver.bodies) >= 2, 30, what="delivery after recovery")
        wait_until(lambda: owner.execute("SELECT count(*) FROM notification_outbox WHERE"
                                         " delivered_at IS NULL").fetchone()[0] == 0, 10,
                   what="outbox drained")
    finally:
        part.stop()
    assert transitions(receiver) == [("link_missing", "firing"), ("link_missing", "resolved")]
    body = receiver.bodies[0]
    assert body["version"] == "4" and body["receiver"] == "ioc"
    assert body["alerts"][0]["annotations"]["summary"].startswith("Cảnh báo")


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def test_real_alertmanager_receives_pushed_alerts(migrated, owner, receiver, tmp_path):
    assert ALERTMANAGER, "prometheus-alertmanager is missing: `make test` installs it (apt)"
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [
            {"url": receiver.url, "send_resolved": True}]}]}))
    am = ManagedProcess("alertmanager", [
        ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        tmp_path / "alertmanager.log").start()
    settings = migrated.with_(alertmanager_url=f"http://127.0.0.1:{port}",
                              alert_rules=_rules(tmp_path, alertmanager_resend_seconds=2))
    now = datetime.now(UTC)
    put_alert(owner, "link_missing", "firing", now - timedelta(seconds=5),
              labels={"link_id": "BV-01", "unit": "thanh-hoa-city"})
    notifier = start_part(settings, "notifier", "notifier")
    try:
        import urllib.request

        def listed():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts") as r:
                    return json.loads(r.read())
            except OSError:
                return None

        alerts = wait_until(listed, 30, what="alert listed by Alertmanager")
        assert alerts[0]["labels"] == {"alertname": "link_missing", "severity": "critical",
                                       "link_id": "BV-01", "unit": "thanh-hoa-city"}
        assert alerts[0]["annotations"]["summary"].startswith("Cảnh báo")
        assert alerts[0]["status"]["state"] == "active"
        # Alertmanager's own webhook reaches our receiver: the routing path works end to end
        wait_until(lambda: ("link_missing", "firing") in transitions(receiver), 30,
                   what="Alertmanager notification")
        # flapping: still firing for Alertmanager, re-pushed past the 8 s (4 re-sends) after
        # which it would lapse on its own and tell the receivers "resolved"
        put_alert(owner, "link_missing", "flapping", now - timedelta(seconds=5),
                  labels={"link_id": "BV-01", "unit": "thanh-hoa-city"})
        lapse = time.monotonic() + 12
        while time.monotonic() < lapse:
            listed_now = listed() or []
            assert [a["status"]["state"] for a in listed_now] == ["active"], listed_now
            assert ("link_missing", "resolved") not in transitions(receiver)
            time.sleep(1)
        put_alert(owner, "link_missing", "resolved", now - timedelta(seconds=5),
                  datetime.now(UTC), labels={"link_id": "BV-01", "unit": "thanh-hoa-city"})
        wait_until(lambda: ("link_missing", "resolved") in transitions(receiver), 30,
                   what="resolved through Alertmanager")
        pushes = owner.execute("SELECT count(*) FROM notification_outbox"
                               " WHERE kind = 'alertmanager' AND delivered_at IS NOT NULL"
                               ).fetchone()[0]
        assert pushes >= 2
    finally:
        notifier.stop()
        am.stop()


def _ioc(settings, *args: str) -> subprocess.CompletedProcess:
    return run_ioc(*args, settings=settings, timeout=60)


def test_ioc_alerts_commands_ack_silence_expire_list(migrated, owner):
    put_alert(owner, "link_missing", "firing", T0, labels={"link_id": "BV-01"})
    out = _ioc(migrated, "alerts", "list", "--json")
    assert out.returncode == 0, out.stderr
    (alert,) = json.loads(out.stdout)
    assert alert["state"] == "firing" and alert["silenced_by"] is None
    out = _ioc(migrated, "alerts", "ack", alert["fingerprint"], "--by", "Lan",
               "--comment", "đã gọi bệnh viện")
    assert out.returncode == 0, out.stderr
    out = _ioc(migrated, "alerts", "silence", "--match", "link_id=~BV-0.*", "--for", "2h",
               "--by", "Lan", "--comment", "bảo trì")
    assert out.returncode == 0, out.stderr
    sid = int(out.stdout.split()[1])
    (alert,) = json.loads(_ioc(migrated, "alerts", "list", "--json").stdout)
    assert (alert["acknowledged_by"], alert["silenced_by"]) == ("Lan", sid)
    assert _ioc(migrated, "alerts", "expire", str(sid), "--by", "Lan").returncode == 0
    bad = _ioc(migrated, "alerts", "expire", str(sid), "--by", "Lan")
    assert bad.returncode == 2 and "no unexpired silence" in bad.stderr
    bad = _ioc(migrated, "alerts", "silence", "--match", "nonsense", "--for", "2h", "--by", "x",
               "--comment", "x")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
    audit = owner.execute("SELECT actor, action FROM audit_log ORDER BY id").fetchall()
    assert audit == [("Lan", "acknowledge"), ("Lan", "silence"), ("Lan", "expire")]
    # ioc status --json lists the firing alerts
    status = _ioc(migrated, "status", "--json")
    assert status.returncode == 0, status.stderr
    (shown,) = json.loads(status.stdout)["alerts"]
    assert (shown["rule"], shown["state"], shown["acknowledged_by"]) == (
        "link_missing", "firing", "Lan")
    assert shown["summary_vi"].startswith("Cảnh báo")
