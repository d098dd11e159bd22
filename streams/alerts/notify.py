"""Notifications: Alertmanager-style grouping (pure, `Grouper`) and the notifier part
(`ioc notifier`, `Notifier`) that turns stored alerts into outbox rows and delivers them.

What is notified: firing and resolved alerts, not pending ones; not while flapping (held
back: the last notified state stands until flapping ends); not when inhibited or covered by
an active silence. Grouping follows Alertmanager: a new group waits `group_wait`, changes
to a notified group wait `group_interval` after the last notification, an unchanged group
with firing alerts is re-sent after `repeat_interval`.

Delivery: each notification is one outbox row per receiver, written in the same
transaction as the group's new state, and marked delivered only after a 2xx answer; failed
attempts back off (doubling, capped) and each receiver's rows go out in order. A crash
between a receiver's 2xx and the mark repeats that one notification once, never more.
Everything runs on wall time: notifications are for people now (a replay has no notifier).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from streams.alerts.rules import Notifications

log = logging.getLogger(__name__)

ALERTMANAGER = "alertmanager"
AM_GROUP = "__alertmanager__"
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Notice:
    """One alert as the notifier sees it (a row of alerts_current)."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    state: str
    starts_at: datetime | None
    ends_at: datetime | None
    value: float | None
    threshold: float | None
    summary_vi: str
    summary_en: str
    muted: bool = False        # inhibited or silenced

    @property
    def all_labels(self) -> dict[str, str]:
        return {**self.labels, "alertname": self.rule, "severity": self.severity}

    @property
    def token(self) -> str:
        """What was notified: state and episode start (a new episode is a new notification)."""
        return f"{self.state}@{self.starts_at.isoformat() if self.starts_at else ''}"


@dataclass
class GroupState:
    group_labels: dict[str, str]
    first_seen_at: datetime
    last_flush_at: datetime | None = None
    sent: dict[str, str] = field(default_factory=dict)   # fingerprint -> token (firing only)


@dataclass(frozen=True)
class Flush:
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Notice]          # firing ones and the newly resolved ones
    sent: dict[str, str]          # the group's state after this notification

    @property
    def status(self) -> str:
        return "firing" if any(a.state == "firing" for a in self.alerts) else "resolved"


def group_of(notice: Notice, group_by: list[str]) -> tuple[str, dict[str, str]]:
    labels = notice.all_labels
    group_labels = {k: labels.get(k, "") for k in group_by}
    key = "{}:{" + ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}"
    return key, group_labels


class Grouper:
    """Decides which notifications are due (pure: the caller keeps the group states)."""

    def __init__(self, config: Notifications):
        self.config = config

    def plan(self, alerts: list[Notice], groups: dict[str, GroupState],
             now: datetime) -> tuple[list[Flush], dict[str, GroupState]]:
        """(notifications due now, the groups' states afterwards)."""
        c = self.config
        members: dict[str, list[Notice]] = {}
        labels_of: dict[str, dict[str, str]] = {}
        for a in alerts:
            key, glabels = group_of(a, c.group_by)
            members.setdefault(key, []).append(a)
            labels_of[key] = glabels
        flushes: list[Flush] = []
        after: dict[str, GroupState] = {}
        for key in set(members) | set(groups):
            st = groups.get(key)
            sent = st.sent if st else {}
            firing = {}
            resolved = []
            for a in members.get(key, []):
                if a.muted:
                    continue
                if a.state == "firing":
                    firing[a.fingerprint] = a
                elif a.state == "resolved" and a.fingerprint in sent:
                    resolved.append(a)
                elif a.state in ("flapping", "pending") and a.fingerprint in sent:
                    # held back: keep what was last notified
                    firing[a.fingerprint] = None
            tokens = {fp: (a.token if a else sent[fp]) for fp, a in firing.items()}
            if st is None:
                if not any(firing.values()):
                    continue
                st = GroupState(labels_of[key], now)
            changed = tokens != sent or bool(resolved)
            if not tokens and not resolved:
                continue  # nothing left to say: forget the group
            if st.last_flush_at is None:
                due = now >= st.first_seen_at + timedelta(seconds=c.group_wait_seconds)
            elif changed:
                due = now >= st.last_flush_at + timedelta(seconds=c.group_interval_seconds)
            else:
                due = now >= st.last_flush_at + timedelta(seconds=c.repeat_interval_seconds)
            if due:
                shown = [a for a in firing.values() if a] + resolved
                if shown:
                    flushes.append(Flush(key, st.group_labels, shown, tokens))
                st = GroupState(st.group_labels, st.first_seen_at, now, dict(tokens))
            if st.sent or st.last_flush_at is None or tokens:
                after[key] = st
        return flushes, after


def _iso(t: datetime | None) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else ZERO_TIME


def annotations(a: Notice, wall_url: str) -> dict[str, str]:
    """Vietnamese first, English too; the value, the threshold and a link to the wall."""
    link = f"{wall_url.rstrip('/')}/alerts?fingerprint={a.fingerprint}"
    return {
        "summary": a.summary_vi,
        "summary_en": a.summary_en,
        "description": f"{a.summary_vi}\n{a.summary_en}\nXem trên màn hình / On the wall: {link}",
        "value": "" if a.value is None else f"{a.value:g}",
        "threshold": "" if a.threshold is None else f"{a.threshold:g}",
        "wall_url": link,
    }


def webhook_payload(flush: Flush, wall_url: str, receiver: str = "ioc") -> dict[str, Any]:
    """Prometheus Alertmanager's webhook format (version 4), so existing receivers work."""
    alerts = [{
        "status": a.state,
        "labels": a.all_labels,
        "annotations": annotations(a, wall_url),
        "startsAt": _iso(a.starts_at),
        "endsAt": _iso(a.ends_at) if a.state == "resolved" else ZERO_TIME,
        "generatorURL": annotations(a, wall_url)["wall_url"],
        "fingerprint": a.fingerprint,
    } for a in flush.alerts]
    common = dict(alerts[0]["labels"]) if alerts else {}
    for al in alerts[1:]:
        common = {k: v for k, v in common.items() if al["labels"].get(k) == v}
    common_ann = dict(alerts[0]["annotations"]) if alerts else {}
    for al in alerts[1:]:
        common_ann = {k: v for k, v in common_ann.items() if al["annotations"].get(k) == v}
    return {"version": "4", "groupKey": flush.group_key, "truncatedAlerts": 0,
            "status": flush.status, "receiver": receiver, "groupLabels": flush.group_labels,
            "commonLabels": common, "commonAnnotations": common_ann,
            "externalURL": wall_url, "alerts": alerts}


def alertmanager_payload(alerts: list[Notice], now: datetime, resend_seconds: float,
                         wall_url: str) -> list[dict[str, Any]]:
    """POST /api/v2/alerts body: firing alerts end 4 re-send intervals from now unless
    re-sent (as Prometheus does), resolved ones carry their end."""
    out = []
    for a in alerts:
        ends = a.ends_at if a.state == "resolved" else now + timedelta(seconds=4 * resend_seconds)
        ann = annotations(a, wall_url)
        out.append({"labels": a.all_labels, "annotations": ann, "startsAt": _iso(a.starts_at),
                    "endsAt": _iso(ends), "generatorURL": ann["wall_url"]})
    return out


def post_json(url: str, body: Any, timeout: float, key: str = "") -> None:
    """POST `body` as JSON; raise OSError (incl. HTTPError) unless the answer is 2xx.

    `key` goes out as the Idempotency-Key header, the same on every retry of one
    notification, so a receiver can drop the copy it gets after answering too late."""
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


class Notifier:
    """Reads alerts, writes due notifications to the outbox, delivers the outbox."""

    def __init__(self, conn: psycopg.Connection, config: Notifications, *,
                 webhook_urls: tuple[str, ...], alertmanager_url: str | None, wall_url: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 post: Callable[[str, Any, float, str], None] = post_json):
        self.conn = conn
        self.config = config
        self.grouper = Grouper(config)
        self.webhook_urls = webhook_urls
        self.alertmanager_url = alertmanager_url.rstrip("/") if alertmanager_url else None
        self.wall_url = wall_url
        self.clock = clock
        self.post = post
        # outbox ids are per schema: the schema keeps the keys of live and replay apart
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        self.key_prefix = f"ioc-{schema}-"

    # ---- reading ----
    def _alerts(self) -> list[Notice]:
        rows = self.conn.execute(
            "SELECT fingerprint, rule, labels, severity, state, starts_at, ends_at, value,"
            " threshold, summary_vi, summary_en,"
            " (inhibited_by IS NOT NULL OR silenced_by IS NOT NULL)"
            " FROM alerts_current").fetchall()
        return [Notice(*r) for r in rows]

    def _groups(self) -> dict[str, GroupState]:
        return {key: GroupState(gl, first, last, sent) for key, gl, first, last, sent in
                self.conn.execute(
                    "SELECT group_key, group_labels, first_seen_at, last_flush_at, sent"
                    " FROM notification_groups WHERE group_key <> %s", (AM_GROUP,))}

    # ---- planning: alerts -> outbox ----
    def plan(self) -> int:
        """Write the notifications due now to the outbox; return how many rows."""
        now = self.clock()
        alerts = self._alerts()
        rows = 0
        with self.conn.transaction():
            # one planner at a time per schema (a second notifier waits, then sees the state)
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
            before = self._groups()
            flushes, after = self.grouper.plan(alerts, before, now)
            for f in flushes:
                payload = None
                for url in self.webhook_urls:
                    payload = payload or webhook_payload(f, self.wall_url)
                    self._enqueue(url, "webhook", f.group_key, f.status, payload)
                    rows += 1
            for key in set(before) - set(after):
                self.conn.execute("DELETE FROM notification_groups WHERE group_key = %s", (key,))
            for key, st in after.items():
                if before.get(key) != st:
                    self._save_group(key, st)
            if self.alertmanager_url:
                rows += self._plan_alertmanager(alerts, now)
        return rows

    def _enqueue(self, receiver: str, kind: str, group_key: str, status: str,
                 payload: Any) -> None:
        # due at once by the notifier's clock (the one deliver() compares with)
        self.conn.execute(
            "INSERT INTO notification_outbox (receiver, kind, group_key, status, payload,"
            " next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (receiver, kind, group_key, status, json.dumps(payload, ensure_ascii=False),
             self.clock()))

    def _save_group(self, key: str, st: GroupState) -> None:
        self.conn.execute(
            "INSERT INTO notification_groups (group_key, group_labels, first_seen_at,"
            " last_flush_at, sent) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (group_key) DO UPDATE"
            " SET last_flush_at = EXCLUDED.last_flush_at, sent = EXCLUDED.sent",
            (key, json.dumps(st.group_labels, ensure_ascii=False), st.first_seen_at,
             st.last_flush_at, json.dumps(st.sent)))

    def _plan_alertmanager(self, alerts: list[Notice], now: datetime) -> int:
        """Push firing alerts to Alertmanager when the set changes and every resend interval;
        a previously pushed alert that resolved is pushed once more with its end."""
        row = self.conn.execute("SELECT last_flush_at, sent FROM notification_groups"
                                " WHERE group_key = %s", (AM_GROUP,)).fetchone()
        last, pushed = (row if row else (None, {}))
        firing = [a for a in alerts if a.state == "firing" and not a.muted]
        tokens = {a.fingerprint: a.token for a in firing}
        held = {fp: tok for fp, tok in pushed.items()  # flapping: keep the last pushed state
                if any(a.fingerprint == fp and a.state in ("flapping", "pending") for a in alerts)}
        tokens |= held
        gone = [a for a in alerts if a.fingerprint in pushed and a.fingerprint not in tokens
                and a.state == "resolved"]
        resend = last is None or now >= last + timedelta(
            seconds=self.config.alertmanager_resend_seconds)
        if tokens == pushed and not gone and not resend:
            return 0
        if not firing and not gone and not pushed:
            return 0
        # a flapping alert stays pushed as it was last notified (firing): left out of the
        # re-sends, Alertmanager would let it lapse at its endsAt and tell every receiver
        # "resolved" while the wall still shows it flapping
        flapping = [a for a in alerts if a.fingerprint in held]
        body = alertmanager_payload(firing + flapping + gone, now,
                                    self.config.alertmanager_resend_seconds, self.wall_url)
        if body:
            self._enqueue(ALERTMANAGER, "alertmanager", AM_GROUP,
                          "firing" if firing else "resolved", body)
        self.conn.execute(
            "INSERT INTO notification_groups (group_key, group_labels, first_seen_at,"
            " last_flush_at, sent) VALUES (%s, '{}', %s, %s, %s) ON CONFLICT (group_key)"
            " DO UPDATE SET last_flush_at = EXCLUDED.last_flush_at, sent = EXCLUDED.sent",
            (AM_GROUP, now, now, json.dumps(tokens)))
        return 1 if body else 0

    # ---- delivery ----
    def deliver(self) -> int:
        """Try the oldest due row of each receiver; return how many were delivered."""
        now = self.clock()
        heads = self.conn.execute(
            "SELECT DISTINCT ON (receiver) id, receiver, kind, payload, attempts, next_attempt_at"
            " FROM notification_outbox WHERE delivered_at IS NULL"
            " ORDER BY receiver, id").fetchall()
        due = []
        for row_id, receiver, kind, payload, attempts, next_at in heads:
            if next_at > now:
                continue
            if kind == ALERTMANAGER:
                if not self.alertmanager_url:
                    continue  # pushes queued while one was configured wait for it
                url = f"{self.alertmanager_url}/api/v2/alerts"
            else:
                url = receiver
            due.append((row_id, url, payload, attempts))
        if not due:
            return 0

        def attempt(item: tuple) -> Exception | None:
            try:
                self.post(item[1], item[2], self.config.timeout_seconds,
                          f"{self.key_prefix}{item[0]}")
            except (OSError, ValueError) as exc:
                return exc
            return None

        # receivers in parallel: one that hangs until its timeout does not delay the others
        with ThreadPoolExecutor(max_workers=min(8, len(due))) as pool:
            outcomes = list(pool.map(attempt, due))
        delivered = 0
        for (row_id, url, _, attempts), exc in zip(due, outcomes, strict=True):
            if exc is not None:
                delay = min(self.config.retry_max_seconds,
                            self.config.retry_min_seconds * 2 ** attempts)
                self.conn.execute(
                    "UPDATE notification_outbox SET attempts = attempts + 1, last_error = %s,"
                    " next_attempt_at = %s WHERE id = %s",
                    (f"{type(exc).__name__}: {exc}"[:500], now + timedelta(seconds=delay),
                     row_id))
                log.warning("notification %s to %s failed (attempt %s), retry in %.0f s: %s",
                            row_id, url, attempts + 1, delay, exc)
                continue
            self.conn.execute("UPDATE notification_outbox SET delivered_at = now(),"
                              " attempts = attempts + 1 WHERE id = %s", (row_id,))
            delivered += 1
        return delivered

    def run(self, stop: threading.Event, tick_seconds: float = 0.25) -> None:
        """Plan and deliver until `stop` is set. One notifier per schema is active: a second
        one waits as a standby (a session lock) so two never deliver the same row."""
        waiting = False
        while not self.conn.execute("SELECT pg_try_advisory_lock(hashtext(current_schema()"
                                    " || ':notifier'))").fetchone()[0]:
            if not waiting:
                log.info("another notifier is active on this schema: standing by")
                waiting = True
            if stop.wait(2):
                return
        while not stop.is_set():
            try:
                self.plan()
                while self.deliver():
                    pass
            except psycopg.OperationalError as exc:
                log.warning("database error, retrying: %s", exc)
            stop.wait(tick_seconds)
