"""Notification grouping (Alertmanager semantics) and the webhook format, as pure logic
with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.alerts.notify import Grouper, Notice, alertmanager_payload, webhook_payload
from streams.alerts.rules import Notifications

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CFG = Notifications(group_by=["alertname"], group_wait_seconds=10, group_interval_seconds=60,
                    repeat_interval_seconds=3600)


def notice(fp: str, state: str = "firing", rule: str = "link_missing", starts: int = 0,
           muted: bool = False) -> Notice:
    return Notice(fp, rule, {"link_id": fp, "unit": "thanh-hoa-city"}, "critical", state,
                  T0 + timedelta(seconds=starts),
                  T0 + timedelta(seconds=500) if state == "resolved" else None,
                  95.0, 60.0, f"Mất kết nối {fp}: 95 giây (ngưỡng 60)",
                  f"Link {fp} lost: 95 s (threshold 60)", muted)


class Run:
    def __init__(self):
        self.grouper = Grouper(CFG)
        self.groups = {}

    def at(self, seconds: float, alerts: list[Notice]) -> list[list[tuple[str, str]]]:
        flushes, self.groups = self.grouper.plan(alerts, self.groups,
                                                 T0 + timedelta(seconds=seconds))
        return [sorted((a.fingerprint, a.state) for a in f.alerts) for f in flushes]


def test_group_wait_then_interval_then_resolved_once():
    r = Run()
    assert r.at(0, [notice("a")]) == []                       # group_wait
    assert r.at(5, [notice("a"), notice("b")]) == []
    assert r.at(10, [notice("a"), notice("b")]) == [[("a", "firing"), ("b", "firing")]]
    assert r.at(11, [notice("a"), notice("b")]) == []         # nothing new
    # a change waits group_interval after the last notification
    assert r.at(30, [notice("a"), notice("b", "resolved")]) == []
    assert r.at(70, [notice("a"), notice("b", "resolved")]) == [[("a", "firing"),
                                                                  ("b", "resolved")]]
    # the resolved one is told once
    assert r.at(140, [notice("a"), notice("b", "resolved")]) == []
    # unchanged and still firing: repeated after repeat_interval
    assert r.at(70 + 3600, [notice("a"), notice("b", "resolved")]) == [[("a", "firing")]]
    assert r.at(3800, [notice("a", "resolved"), notice("b", "resolved")]) == [[("a", "resolved")]]
    assert r.groups == {}                                     # all resolved: group forgotten


def test_alert_resolved_within_group_wait_is_never_sent():
    r = Run()
    assert r.at(0, [notice("a")]) == []
    assert r.at(5, [notice("a", "resolved")]) == []
    assert r.at(20, [notice("a", "resolved")]) == []
    assert r.groups == {}


def test_groups_by_label_and_muted_and_pending_are_not_sent():
    r = Run()
    alerts = [notice("a"), notice("p", rule="portal_errors"), notice("m", muted=True),
              notice("q", "pending")]
    assert r.at(10, alerts) == []
    assert sorted(r.at(20, alerts)) == [[("a", "firing")], [("p", "firing")]]
    assert sorted(g.group_labels["alertname"] for g in r.groups.values()) == [
        "link_missing", "portal_errors"]


def test_flapping_holds_back_notifications_and_a_new_episode_is_new():
    r = Run()
    r.at(0, [notice("a")])
    assert r.at(10, [notice("a")]) == [[("a", "firing")]]
    # flapping: the last notified state stands, nothing is sent however long it flaps
    assert r.at(100, [notice("a", "flapping")]) == []
    assert r.at(1000, [notice("a", "flapping")]) == []
    # flapping ends in a new firing episode (new starts_at): notified as a change
    assert r.at(1100, [notice("a", starts=1090)]) == [[("a", "firing")]]


def test_webhook_payload_is_alertmanager_v4_with_vietnamese_first():
    r = Run()
    r.at(0, [notice("a")])
    flushes, _ = Grouper(CFG).plan([notice("a"), notice("b", "resolved")], {},
                                   T0 + timedelta(seconds=10))
    assert flushes == []  # a brand-new group is never sent before group_wait
    flushes, _ = Grouper(CFG).plan([notice("a")], r.groups, T0 + timedelta(seconds=10))
    body = webhook_payload(flushes[0], "http://wall.example:8050")
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "link_missing"}
    alert = body["alerts"][0]
    assert alert["labels"] == {"link_id": "a", "unit": "thanh-hoa-city",
                               "alertname": "link_missing", "severity": "critical"}
    assert alert["startsAt"] == "2026-03-02T02:00:00Z" and alert["endsAt"].startswith("0001")
    ann = alert["annotations"]
    assert ann["summary"].startswith("Mất kết nối") and ann["summary_en"].startswith("Link")
    assert ann["description"].index("Mất") < ann["description"].index("Link")
    assert ann["value"] == "95" and ann["threshold"] == "60"
    assert ann["wall_url"] == "http://wall.example:8050/alerts?fingerprint=a"
    assert alert["generatorURL"] == ann["wall_url"]
    assert body["commonLabels"]["alertname"] == "link_missing"


def test_alertmanager_payload_ends():
    now = T0 + timedelta(seconds=100)
    body = alertmanager_payload([notice("a"), notice("b", "resolved")], now, 60, "http://w")
    assert body[0]["endsAt"] == "2026-03-02T02:05:40Z"    # now + 4 x 60 s
    assert body[1]["endsAt"] == "2026-03-02T02:08:20Z"    # its own end
