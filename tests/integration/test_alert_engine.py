"""The alert engine on the real embedded PostgreSQL: each rule kind evaluated on event time
from stored rows, alerts/transitions/state persisted, restart resumes, inhibition stored."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ioc.calendar import load_calendar
from ioc.db import WRITER_ROLE, connect, role_url
from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.resources import ALERT_RULES_DIR
from streams.alerts.engine import Engine
from streams.alerts.notify import Notifier
from streams.alerts.rules import Notifications, load_rules

pytestmark = pytest.mark.integration

# Monday 2 March 2026, 09:00 in Thanh Hoa (working time)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PROVINCE = load_province(Path("ioc/provinces/thanh-hoa.yaml"))
LINKS = [h.link_id for h in PROVINCE.hospitals]


def rules_file(tmp_path: Path, rules: dict, **extra) -> Path:
    doc = {"schema_version": 1, "evaluation": {"step_seconds": 10, "lateness_seconds": 0},
           "rules": rules, **extra}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def heartbeats(conn, start: datetime, seconds: int, links: list[str], *, every: int = 5,
               status: str = "up", latency: float = 40.0, loss: float = 0.0) -> None:
    rows = []
    for link in links:
        hospital, hub = link.split("--")
        for s in range(0, seconds, every):
            t = start + timedelta(seconds=s)
            rows.append((f"hb-{link}-{t.timestamp()}", t, "u", ["u"], link, hospital, hub, status,
                         latency, 1.0, loss))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO link_heartbeats (event_id, occurred_at, unit_code, unit_codes, link_id,"
            " hospital_code, hub_code, status, latency_ms, jitter_ms, loss_pct)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)


def payments(conn, start: datetime, seconds: int, every: float, *, status: str = "succeeded",
             tag: str = "p") -> None:
    rows = []
    n = int(seconds / every)
    for i in range(n):
        t = start + timedelta(seconds=i * every)
        rows.append((f"{tag}-{t.timestamp()}-{i}", t, "u", ["u"], f"pay-{tag}-{i}", "hospital_fee",
                     "qr", 100000, status))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO payments (event_id, occurred_at, unit_code, unit_codes, payment_id,"
            " category, channel, amount_vnd, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows)


def engine_for(migrated, path: Path, **kw) -> tuple[Engine, object]:
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
    conn = connect(url, migrated.db_schema, autocommit=True)
    return Engine(conn, load_rules(path), PROVINCE, load_calendar(), **kw), conn


def episodes(conn, rule: str) -> list[tuple]:
    return conn.execute(
        "SELECT labels, from_state, to_state, at FROM alert_transitions WHERE rule = %s"
        " ORDER BY id",
        (rule,)).fetchall()


@pytest.fixture
def owner(migrated):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        yield conn


def test_absence_per_expected_link_and_removed_links_stop(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {"missing": {
        "kind": "absence", "severity": "critical", "entities": "telemedicine_links",
        "silent_seconds": 30, "clear_seconds": 10, "for_seconds": 10,
        "summary_vi": "{hospital_name} im lặng {value:.0f} giây",
        "summary_en": "{link_id} silent"}},
        flapping={"window_seconds": 900, "min_changes": 6, "clear_changes": 1})
    quiet = LINKS[0]
    heartbeats(owner, T0, 600, LINKS[1:])
    heartbeats(owner, T0, 60, [quiet])            # stops at T0+55
    heartbeats(owner, T0 + timedelta(seconds=150), 150, [quiet])  # back at T0+150
    engine, conn = engine_for(migrated, path)
    engine.run_until(T0 + timedelta(seconds=290))
    rows = episodes(conn, "missing")
    assert {r[0]["link_id"] for r in rows} == {quiet}  # one alert, for the silent link only
    # silent > 30 s from T0+90 -> pending; for 10 s -> firing at T0+100; back at T0+150
    # (silence 0 <= clear 10) -> resolved
    assert [(r[1], r[2], r[3] - T0) for r in rows] == [
        ("inactive", "pending", timedelta(seconds=90)),
        ("pending", "firing", timedelta(seconds=100)),
        ("firing", "resolved", timedelta(seconds=150))]
    alert = conn.execute("SELECT state, summary_vi, severity FROM alerts").fetchone()
    assert alert[0] == "resolved" and alert[2] == "critical"
    assert PROVINCE.hospitals[0].name_vi in alert[1]
    # silent again after T0+295: firing at T0+340; then the link is removed from the
    # province file: its alert resolves and it stops alerting
    engine.run_until(T0 + timedelta(seconds=350))
    assert conn.execute("SELECT state FROM alerts").fetchone()[0] == "firing"
    engine.evaluator.links.pop(quiet)
    engine.run_until(T0 + timedelta(seconds=590))
    assert [(r[2], r[3] - T0) for r in episodes(conn, "missing")][3:] == [
        ("pending", timedelta(seconds=330)), ("firing", timedelta(seconds=340)),
        ("resolved", timedelta(seconds=360))]
    conn.close()


def test_threshold_on_province_target_with_hysteresis_and_restart(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {"pay_fail": {
        "kind": "threshold", "severity": "critical", "measure": "payment_success_ratio",
        "window_seconds": 60, "min_count": 5, "op": "<",
        "threshold_from": "target:payment_success_ratio", "clear_margin": 0.01,
        "summary_vi": "{category}: {value:.0%} < {threshold:.0%}", "summary_en": "{category}"}})
    payments(owner, T0, 600, 2, tag="ok")                       # all succeed
    payments(owner, T0 + timedelta(seconds=120), 60, 2, status="failed", tag="bad")
    engine, conn = engine_for(migrated, path)
    engine.run_until(T0 + timedelta(seconds=150))
    assert conn.execute("SELECT state FROM alerts").fetchone()[0] == "firing"
    conn.close()
    # a new engine resumes where the first one stopped (same schema, saved state)
    engine, conn = engine_for(migrated, path)
    assert engine.step_at == T0 + timedelta(seconds=150)
    engine.run_until(T0 + timedelta(seconds=400))
    rows = episodes(conn, "pay_fail")
    assert [(r[2], r[3] - T0) for r in rows] == [
        ("firing", timedelta(seconds=120)),   # first step with a failure in the window
        ("resolved", timedelta(seconds=240))]  # window clean of failures (not just above 0.98)
    value, threshold, summary = conn.execute(
        "SELECT value, threshold, summary_vi FROM alerts").fetchone()
    assert threshold == PROVINCE.targets.payment_success_ratio
    assert "hospital_fee" in summary
    conn.close()


def test_baseline_against_previous_weeks(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {"drop": {
        "kind": "baseline", "severity": "critical", "measure": "payments_count",
        "window_seconds": 300, "weeks": 2, "ratio_below": 0.5, "clear_ratio": 0.8,
        "min_baseline": 10, "summary_vi": "{value:.0%}", "summary_en": "{value:.0%}"}})
    for k in (1, 2):
        payments(owner, T0 - timedelta(weeks=k), 1200, 3, tag=f"w{k}")   # 100 per 5 min
    payments(owner, T0, 600, 3, tag="now")
    payments(owner, T0 + timedelta(seconds=600), 600, 20, tag="slow")  # 15 per 5 min
    engine, conn = engine_for(migrated, path)
    engine.run_until(T0 + timedelta(seconds=1190))
    rows = episodes(conn, "drop")
    assert [r[2] for r in rows] == ["firing"]
    # below half of the baseline (100) from the first step the window holds < 50: T0+780
    assert rows[0][3] == T0 + timedelta(seconds=780)
    conn.close()


def test_link_quality_staleness_and_watchdog(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {
        "latency": {"kind": "link_quality", "severity": "warning", "measure": "latency_ms",
                    "window_seconds": 30, "op": ">", "threshold": 200, "clear": 100,
                    "for_seconds": 20, "summary_vi": "{hospital_name} {value:.0f} ms",
                    "summary_en": "{link_id} {value:.0f} ms"},
        "stale": {"kind": "staleness", "severity": "critical", "source": "payments",
                  "feed": "payments", "silent_seconds": 60,
                  "summary_vi": "{feed} {value:.0f}", "summary_en": "{feed}"},
        "dossiers_stale": {"kind": "staleness", "severity": "warning", "source": "dossiers",
                           "feed": "portal", "silent_seconds": 60, "working_hours_only": True,
                           "summary_vi": "x", "summary_en": "x"},
        "watchdog": {"kind": "watchdog", "severity": "info", "summary_vi": "w", "summary_en": "w"},
    })
    heartbeats(owner, T0, 300, LINKS[:1], latency=40)
    heartbeats(owner, T0 + timedelta(seconds=300), 120, LINKS[:1], latency=400)
    payments(owner, T0, 120, 5)
    engine, conn = engine_for(migrated, path)
    engine.run_until(T0 + timedelta(seconds=410))
    latency = episodes(conn, "latency")
    assert [(r[2], r[3] - T0) for r in latency] == [
        ("pending", timedelta(seconds=310)), ("firing", timedelta(seconds=330))]
    assert latency[0][0]["link_id"] == LINKS[0]
    stale = episodes(conn, "stale")
    # last payment at T0+115: silent > 60 s from T0+180
    assert [(r[2], r[3] - T0) for r in stale] == [("firing", timedelta(seconds=180))]
    # no dossier at all, in working hours on a Monday morning: stale from the first step
    # after 60 s of working time since evaluation began
    assert [r[2] for r in episodes(conn, "dossiers_stale")] == ["firing"]
    assert [r[2] for r in episodes(conn, "watchdog")] == ["firing"]
    conn.close()


def test_dossier_staleness_is_quiet_outside_working_hours(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {"dossiers_stale": {
        "kind": "staleness", "severity": "warning", "source": "dossiers", "feed": "portal",
        "silent_seconds": 60, "working_hours_only": True, "summary_vi": "x", "summary_en": "x"}})
    sunday = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    payments(owner, sunday, 600, 5)
    engine, conn = engine_for(migrated, path)
    engine.run_until(sunday + timedelta(seconds=600))
    assert episodes(conn, "dossiers_stale") == []
    conn.close()


def test_inhibition_is_stored_on_the_target(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {
        "missing": {"kind": "absence", "severity": "critical", "entities": "telemedicine_links",
                    "silent_seconds": 30, "summary_vi": "x", "summary_en": "x"},
        "feed_stale": {"kind": "staleness", "severity": "critical", "source": "heartbeats",
                       "feed": "telemedicine", "silent_seconds": 30,
                       "summary_vi": "x", "summary_en": "x"}},
        inhibit=[{"source": {"alertname": "feed_stale", "feed": "telemedicine"},
                  "target": {"alertname": "missing"}}])
    heartbeats(owner, T0, 60, LINKS)
    payments(owner, T0, 300, 5)  # the payments feed keeps the watermark moving
    engine, conn = engine_for(migrated, path)
    engine.run_until(T0 + timedelta(seconds=200))
    stale_fp = conn.execute(
        "SELECT fingerprint FROM alerts WHERE rule = 'feed_stale'").fetchone()[0]
    inhibited = conn.execute(
        "SELECT count(*), count(DISTINCT inhibited_by), min(inhibited_by) FROM alerts"
        " WHERE rule = 'missing' AND state = 'firing'").fetchone()
    assert inhibited == (len(LINKS), 1, stale_fp)
    conn.close()


def test_watermark_live_and_replay(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {"watchdog": {"kind": "watchdog", "severity": "info",
                                              "summary_vi": "w", "summary_en": "w"}})
    live, conn = engine_for(migrated, path)
    replay, conn2 = engine_for(migrated, path, replay=True, name="replay")
    assert live.watermark() is None
    heartbeats(owner, T0, 60, LINKS[:2])
    payments(owner, T0, 30, 5)
    # live: the slowest busy feed (payments at T0+25, plus the wall time since it was
    # stored) minus lateness (0 here)
    assert T0 + timedelta(seconds=25) <= live.watermark() < T0 + timedelta(seconds=30)
    # replay: nothing until the rows settle
    assert replay.watermark() is None
    owner.execute("UPDATE link_heartbeats SET stored_at = now() - interval '1 minute'")
    owner.execute("UPDATE payments SET stored_at = now() - interval '1 minute'")
    assert replay.watermark() == T0 + timedelta(seconds=55)
    # every feed idle: live advances to the newest event
    assert live.watermark() == T0 + timedelta(seconds=55)
    conn.close()
    conn2.close()


def test_default_rules_load_and_errors_name_rule_and_field(tmp_path):
    rules = load_rules(ALERT_RULES_DIR / "default.yaml")
    kinds = {type(r).__name__ for r in rules.rules.values()}
    assert kinds >= {"ThresholdRule", "BaselineRule", "AbsenceRule", "LinkQualityRule",
                     "StalenessRule", "PipelineRule", "WatchdogRule"}
    bad = rules_file(tmp_path, {"slow": {"kind": "link_quality", "severity": "warning",
                                         "measure": "latency_ms", "window_seconds": -1, "op": ">",
                                         "threshold": 1, "summary_vi": "x", "summary_en": "x"}})
    with pytest.raises(SettingsError,
                       match=r"rules\.yaml: rules\.slow\.link_quality\.window_seconds"):
        load_rules(bad)
    bad = rules_file(tmp_path, {"slow": {"kind": "link_quality", "severity": "warning",
                                         "measure": "latency_ms", "window_seconds": 60, "op": ">",
                                         "threshold": 100, "clear": 200,
                                         "summary_vi": "x", "summary_en": "x"}})
    with pytest.raises(SettingsError, match=r"rules\.slow\.link_quality: .*clear"):
        load_rules(bad)
    bad = rules_file(tmp_path, {"slow": {"kind": "watchdog", "severity": "info",
                                         "summary_vi": "{nope}", "summary_en": "x"}})
    with pytest.raises(SettingsError, match=r"unknown placeholder \{nope\}"):
        load_rules(bad)
    # names are the alert's `alertname` label and a key of every notification: snake_case
    assert rules.rules and all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in rules.rules)


def test_pipeline_rules_on_wall_time_and_never_on_replays(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {
        "dead": {"kind": "pipeline", "severity": "warning", "measure": "dead_letters",
                 "window_seconds": 300, "op": ">", "threshold": 2, "clear": 0,
                 "summary_vi": "{value:.0f} bản tin lỗi", "summary_en": "{value:.0f} bad"},
        "lag": {"kind": "pipeline", "severity": "warning", "measure": "consumer_lag",
                "op": ">", "threshold": 100, "clear": 10, "summary_vi": "x", "summary_en": "x"},
        "stalled": {"kind": "pipeline", "severity": "critical",
                    "measure": "ingest_stalled_seconds", "op": ">", "threshold": 60,
                    "clear": 5, "summary_vi": "x", "summary_en": "x"},
        "backlog": {"kind": "pipeline", "severity": "critical",
                    "measure": "backlog_stalled_seconds", "op": ">", "threshold": 25,
                    "clear": 0, "summary_vi": "Luồng {feed}: {value:.0f} giây",
                    "summary_en": "{feed}"}})
    for offset in range(3):
        owner.execute("INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, feed,"
                      " reason, raw) VALUES ('t.portal', 0, %s, 'portal', 'bad', '\\x00')",
                      (offset,))
    payments(owner, T0, 10, 5)
    owner.execute("UPDATE payments SET stored_at = now() - interval '5 minutes'")
    lag = [500]
    clock = [0.0]
    stalled = [{"portal": 0.0, "telemedicine": 0.0, "payments": 40.0}]
    engine, conn = engine_for(migrated, path, lag=lambda: lag[0], wall_clock=lambda: clock[0],
                              stalled=lambda: stalled[0])
    engine.run_once()
    firing = dict(conn.execute("SELECT rule, value FROM alerts WHERE state = 'firing'"))
    assert firing == {"dead": 3, "lag": 500, "stalled": pytest.approx(300, abs=5),
                      "backlog": 40}
    # one alert per feed: only the stalled feed fires, and its summary names it
    backlog = conn.execute("SELECT labels, state, summary_vi FROM alerts WHERE rule = 'backlog'"
                           " ORDER BY labels->>'feed'").fetchall()
    assert backlog == [({"feed": "payments"}, "firing", "Luồng payments: 40 giây")]
    lag[0] = 50
    engine.run_once()  # hysteresis: 50 is above clear (10): still firing; and throttled
    clock[0] = 10.0
    lag[0] = 5
    engine.run_once()
    assert conn.execute("SELECT state FROM alerts WHERE rule = 'lag'").fetchone()[0] == "resolved"
    stalled[0] = {"portal": 0.0, "telemedicine": 0.0, "payments": 0.0}  # progress again
    clock[0] = 20.0
    engine.run_once()
    assert conn.execute("SELECT state FROM alerts WHERE rule = 'backlog'").fetchone()[0] \
        == "resolved"
    replay, conn2 = engine_for(migrated, path, replay=True, name="replay")
    assert replay.pipeline_rules == {}
    conn.close()
    conn2.close()


def test_a_broker_out_of_sync_raises_its_own_alert_until_it_caught_up(migrated, owner,
                                                                       tmp_path):
    """The shipped rule: one alert per broker with copies out of sync, named in its summary;
    resolved once the probe sees them all in sync again."""
    shipped = yaml.safe_load((ALERT_RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    path = rules_file(tmp_path, {"broker_out_of_sync": shipped["rules"]["broker_out_of_sync"]})
    behind: list[dict[int, int] | None] = [{1: 0, 2: 0, 3: 0}]
    clock = [0.0]
    engine, conn = engine_for(migrated, path, wall_clock=lambda: clock[0],
                              brokers=lambda: behind[0])
    engine.run_once()
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    behind[0] = {1: 0, 2: 0, 3: 9}  # broker 3 fenced: its 9 copies out of the in-sync sets
    clock[0] = 10.0
    engine.run_once()
    rows = conn.execute("SELECT labels, state, value, summary_vi FROM alerts").fetchall()
    assert rows == [({"broker": "3"}, "firing", 9.0,
                     "Máy chủ Kafka (broker) 3: 9 bản sao phân vùng dữ liệu không đồng bộ "
                     "(máy chủ dừng, khởi động lại hoặc đang bắt kịp)")]
    behind[0] = {1: 0, 2: 0, 3: 0}  # back and caught up
    clock[0] = 30.0
    engine.run_once()
    assert conn.execute("SELECT state FROM alerts").fetchone()[0] == "resolved"
    conn.close()


def test_a_kiosk_wall_without_heartbeats_raises_its_own_alert(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {
        "wall_frozen": {"kind": "pipeline", "severity": "warning",
                        "measure": "wall_silent_seconds", "window_seconds": 86400,
                        "op": ">", "threshold": 120, "clear": 45,
                        "summary_vi": "Màn hình {wall} ({page}): {value:.0f} giây",
                        "summary_en": "Wall {wall} ({page})"}})
    for wall, kiosk, ago in (("hall-a", True, "3 minutes"), ("hall-b", True, "10 seconds"),
                             ("laptop", False, "3 minutes"), ("old", True, "2 days")):
        owner.execute("INSERT INTO wall_heartbeats (wall_id, page, kiosk, last_seen_at)"
                      " VALUES (%s, '/', %s, now() - %s::interval)", (wall, kiosk, ago))
    clock = [0.0]
    engine, conn = engine_for(migrated, path, wall_clock=lambda: clock[0])
    engine.run_once()
    rows = conn.execute("SELECT labels, state, summary_vi FROM alerts"
                        " WHERE rule = 'wall_frozen' ORDER BY labels->>'wall'").fetchall()
    # only the kiosk wall silent past the threshold; a laptop and a wall gone for days do not
    assert [(r[0], r[1]) for r in rows] == [({"wall": "hall-a", "page": "/"}, "firing")]
    assert rows[0][2].startswith("Màn hình hall-a (/): 18")
    owner.execute("UPDATE wall_heartbeats SET last_seen_at = now() WHERE wall_id = 'hall-a'")
    clock[0] = 10.0
    engine.run_once()
    assert conn.execute("SELECT state FROM alerts WHERE rule = 'wall_frozen'"
                        " AND labels->>'wall' = 'hall-a'").fetchone()[0] == "resolved"
    conn.close()


def test_flapping_is_its_own_state_and_holds_notifications_back(migrated, owner, tmp_path):
    path = rules_file(tmp_path, {
        "latency": {"kind": "link_quality", "severity": "warning", "measure": "latency_ms",
                    "window_seconds": 10, "op": ">", "threshold": 200, "clear": 100,
                    "summary_vi": "{hospital_name} {value:.0f} ms",
                    "summary_en": "{link_id} {value:.0f} ms"}},
        flapping={"window_seconds": 300, "min_changes": 4, "clear_changes": 1})
    # a minute slow, a minute fine, three times; then fine for good
    for k, slow in enumerate((True, False, True, False, True)):
        heartbeats(owner, T0 + timedelta(seconds=60 * k), 60, LINKS[:1],
                   latency=400 if slow else 40)
    heartbeats(owner, T0 + timedelta(seconds=300), 420, LINKS[:1], latency=40)
    engine, conn = engine_for(migrated, path)
    now = [T0]
    notifier = Notifier(conn, Notifications(group_wait_seconds=0, group_interval_seconds=0),
                        webhook_urls=("http://127.0.0.1:9/hook",), alertmanager_url=None,
                        wall_url="http://wall:8050", clock=lambda: now[0])
    states = []
    for s in range(10, 720, 10):
        now[0] = T0 + timedelta(seconds=s)
        engine.run_until(now[0])
        notifier.plan()  # delivery is not the point here: what gets queued is
        states.append(conn.execute("SELECT state FROM alerts WHERE rule = 'latency'"
                                   ).fetchone()[0])
    changes = [(r[2], (r[3] - T0).total_seconds()) for r in episodes(conn, "latency")]
    # the fourth firing<->resolved change within the window makes it flapping, and it stays
    # so while the changes go on; it leaves once they thin out, to the underlying state
    assert [c[0] for c in changes] == ["firing", "resolved", "firing", "flapping", "resolved"]
    assert "flapping" in states and states[-1] == "resolved"
    queued = [a["status"] for (payload,) in conn.execute(
        "SELECT payload FROM notification_outbox ORDER BY id") for a in payload["alerts"]]
    # firing, resolved, firing notified; nothing while flapping; the final resolution once
    assert queued == ["firing", "resolved", "firing", "resolved"]
    conn.close()


def test_a_bad_stored_row_sets_its_rule_aside_and_the_others_go_on(migrated, owner, tmp_path):
    """Rows stored before the contract refused them (an infinite latency, an event of year 1
    that reads back as a BC date) and a query the database refuses (a grant taken away):
    the rules they break are set aside and raise the pipeline's rule_error alert; every
    other rule goes on."""
    path = rules_file(tmp_path, {
        "latency": {"kind": "link_quality", "severity": "warning", "measure": "latency_ms",
                    "window_seconds": 30, "op": ">", "threshold": 200, "clear": 100,
                    "summary_vi": "{value:.0f} ms", "summary_en": "{value:.0f} ms"},
        "portal_slow": {"kind": "threshold", "severity": "warning",
                        "measure": "portal_latency_p95_ms", "window_seconds": 60, "op": ">",
                        "threshold": 3000, "summary_vi": "x", "summary_en": "x"},
        "missing": {"kind": "absence", "severity": "critical", "entities": "telemedicine_links",
                    "silent_seconds": 30, "summary_vi": "{link_id}", "summary_en": "{link_id}"},
        "rule_error": {"kind": "pipeline", "severity": "critical", "measure": "rule_errors",
                       "op": ">", "threshold": 0, "summary_vi": "Luật {rule}: {value:.0f} lần",
                       "summary_en": "Rule {rule}"}})
    heartbeats(owner, T0, 120, LINKS[:1], latency=float("inf"))  # the other links are silent
    with owner.cursor() as cur:
        cur.executemany(
            "INSERT INTO portal_health (event_id, occurred_at, unit_code, unit_codes, portal_code,"
            " window_seconds, requests, errors, p95_latency_ms) VALUES (%s, %s, 'u', '{u}',"
            " 'dvc', 60, 10, 0, 1e308)",
            [(f"ph-{s}", T0 + timedelta(seconds=s)) for s in range(0, 120, 10)])
    # the engine may still see how far the feed got, not the portals' figures
    owner.execute("REVOKE SELECT ON portal_health FROM ioc_writer")
    owner.execute("GRANT SELECT (occurred_at, stored_at) ON portal_health TO ioc_writer")
    owner.execute("INSERT INTO payments (event_id, occurred_at, unit_code, unit_codes, payment_id,"
                  " category, channel, amount_vnd, status) VALUES ('bc', '0001-01-01T00:00:00+14',"
                  " 'u', '{u}', 'p-bc', 'hospital_fee', 'qr', 1000, 'succeeded')")
    engine, conn = engine_for(migrated, path, wall_clock=lambda: 0.0)
    engine.run_until(T0 + timedelta(seconds=100))  # evaluation begins at the oldest readable
    assert engine.origin == T0
    assert set(engine.failing) == {"latency", "portal_slow"}
    engine.run_once()  # the pipeline rules' turn after the failures were counted (and a few
    # more steps, to the live watermark)
    firing = conn.execute("SELECT rule, labels, summary_vi FROM alerts WHERE state = 'firing'"
                          " ORDER BY rule, labels->>'rule', labels->>'link_id'").fetchall()
    assert [r[0] for r in firing] == ["missing"] * (len(LINKS) - 1) + ["rule_error"] * 2
    assert {r[1]["link_id"] for r in firing if r[0] == "missing"} == set(LINKS[1:])
    assert [r[1] for r in firing if r[0] == "rule_error"] == [{"rule": "latency"},
                                                            {"rule": "portal_slow"}]
    assert firing[-1][2].startswith("Luật portal_slow: ")
    state = conn.execute("SELECT state FROM alert_engine_state").fetchone()[0]
    assert "not finite" in state["rule_errors"]["latency"]["error"]
    assert "InsufficientPrivilege" in state["rule_errors"]["portal_slow"]["error"]
    # the bad rows go (an operator deleted them): the rules are back and the alerts resolve
    owner.execute("DELETE FROM link_heartbeats WHERE latency_ms = 'Infinity'")
    owner.execute("GRANT SELECT ON portal_health TO ioc_writer")
    engine.wall_clock = lambda: 10.0
    engine.run_until(T0 + timedelta(seconds=130))  # beyond where the live watermark took it
    engine.run_once()
    assert engine.failing == {}
    assert conn.execute("SELECT count(*) FROM alerts WHERE rule = 'rule_error'"
                        " AND state = 'resolved'").fetchone()[0] == 2
    conn.close()
