"""The wall's reads and its one writable path on the real embedded PostgreSQL: figures equal
what the tables hold, walls share reads, a lost database is reported, operator actions and
heartbeats go through the SECURITY DEFINER functions only."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ioc.db import OPERATOR_ROLE, READER_ROLE, connect, role_url
from ioc.province import load_province
from ioc_dashboard.actions import ActionError, HeartbeatBook, Operator
from ioc_dashboard.auth import hash_password, verify_password
from ioc_dashboard.data import WallData, local_day_start, read_snapshot
from ioc_dashboard.figures import dossier_kpis, payment_kpis
from proof.bench.wall import generate
from tests.conftest import free_port


@pytest.fixture
def filled(migrated):
    """Two hours of the province's feeds, generated straight into the tables."""
    end = datetime.now(UTC).replace(microsecond=0)
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        rows = generate(conn, load_province(migrated.province_file), end - timedelta(hours=2), end)
    assert all(n > 0 for n in rows.values()), rows
    return migrated


def _reader(settings) -> WallData:
    return WallData.from_settings(settings)


def test_figures_equal_what_the_tables_hold(filled):
    snap = _reader(filled).snapshot()
    assert snap.lost_since is None and snap.read_ms is not None
    with connect(filled.database_url, filled.db_schema) as conn:
        newest = conn.execute("SELECT max(occurred_at) FROM payments").fetchone()[0]
        minute = newest.replace(second=0, microsecond=0)
        counts = conn.execute(
            "SELECT date_trunc('minute', occurred_at) AS m, count(*) FROM payments"
            " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY m ORDER BY m",
            (minute - timedelta(minutes=5), minute)).fetchall()
        ok, total = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FROM payments"
            " WHERE occurred_at >= %s", (minute - timedelta(minutes=15),)).fetchone()
        day = snap.dossiers_day_start
        on_time, resolved = conn.execute(
            "SELECT count(*) FILTER (WHERE occurred_at <= due_at), count(*) FROM dossier_events"
            " WHERE event_type = 'resolved' AND occurred_at >= %s", (day,)).fetchone()
    p = payment_kpis(snap)
    assert p.per_minute == pytest.approx(sum(n for _, n in counts) / len(counts))
    assert p.success_ratio == pytest.approx(ok / total)
    d = dossier_kpis(snap)
    assert (d.resolved, d.resolved_on_time) == (resolved, on_time)
    assert snap.alerts_available and snap.alerts == () and snap.replay_runs == ()


def test_the_typical_band_reads_the_same_hour_of_earlier_weeks(filled):
    """The payments page's band: the hour before the newest payment on the same weekday one
    and two weeks back, moved forward to this week, per minute and category, as the raw
    rows count them (no week three: nothing was stored then)."""
    with connect(filled.database_url, filled.db_schema, autocommit=True) as conn:
        newest = conn.execute("SELECT max(occurred_at) FROM payments").fetchone()[0]
        for weeks in (1, 2):
            back = newest - timedelta(weeks=weeks)
            generate(conn, load_province(filled.province_file), back - timedelta(minutes=90),
                     back + timedelta(minutes=5))
    snap = _reader(filled).snapshot()
    assert snap.newest["payments"] == newest
    since = newest.replace(second=0, microsecond=0) - timedelta(minutes=60)
    with connect(filled.database_url, filled.db_schema) as conn:
        expected = conn.execute(
            "SELECT w.k, date_trunc('minute', p.occurred_at) + make_interval(days => 7 * w.k),"
            "       p.category, count(*) FILTER (WHERE p.status = 'succeeded'),"
            "       count(*) FILTER (WHERE p.status = 'failed')"
            "  FROM generate_series(1, 3) AS w(k) JOIN payments p"
            "    ON p.occurred_at >= %s - make_interval(days => 7 * w.k)"
            "   AND date_trunc('minute', p.occurred_at) <= %s - make_interval(days => 7 * w.k)"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (since, newest)).fetchall()
    assert {k for k, *_ in expected} == {1, 2}
    assert list(snap.payments_weeks) == [tuple(r) for r in expected]
    # the usual day of dossiers: the same weekday hour by hour, moved to this week
    day = snap.dossiers_day_start
    with connect(filled.database_url, filled.db_schema) as conn:
        dossiers = conn.execute(
            "SELECT w.k, date_trunc('hour', d.occurred_at) + make_interval(days => 7 * w.k),"
            "       count(*) FILTER (WHERE event_type = 'received'),"
            "       count(*) FILTER (WHERE event_type = 'received' AND channel = 'online'),"
            "       count(*) FILTER (WHERE event_type = 'resolved'),"
            "       count(*) FILTER (WHERE event_type = 'resolved' AND occurred_at <= due_at)"
            "  FROM generate_series(1, 4) AS w(k) JOIN dossier_events d"
            "    ON d.occurred_at >= %s - make_interval(days => 7 * w.k)"
            "   AND d.occurred_at < %s - make_interval(days => 7 * w.k)"
            " GROUP BY 1, 2 ORDER BY 1, 2", (day, day + timedelta(days=1))).fetchall()
    assert [tuple(w) for w in snap.dossiers_weeks] == [tuple(r) for r in dossiers]
    assert {w.weeks for w in snap.dossiers_weeks} == {1, 2}
    assert all(day <= w.bucket < day + timedelta(days=1) for w in snap.dossiers_weeks)


def test_the_usual_consultations_read_the_same_weekday_up_to_this_time(filled):
    """Consultations running at this time of day one week back (started minus ended before
    it), and how many events that whole day held; weeks without any: zero, zero."""
    with connect(filled.database_url, filled.db_schema, autocommit=True) as conn:
        at = conn.execute("SELECT max(occurred_at) FROM link_heartbeats").fetchone()[0]
        # a week back, placed between that midnight and that time of day whatever the hour:
        # 3 started before this time, 1 of them ended, 1 more started later that day
        midnight, back = local_day_start(at) - timedelta(weeks=1), at - timedelta(weeks=1)
        before = [midnight + (back - midnight) * f for f in (0.2, 0.4, 0.6, 0.8)]
        later = back + (midnight + timedelta(days=1) - back) / 2
        events = [(at, "started"), *zip(before, ("started", "started", "ended", "started"),
                                         strict=True), (later, "started")]
        for n, (when, kind) in enumerate(events):
            conn.execute(
                "INSERT INTO consultations (event_id, occurred_at, unit_code, unit_codes,"
                " event_type, session_id, link_id, hospital_code, hub_code, specialty)"
                " VALUES (%s, %s, 'u', '{u}', %s, %s, 'l', 'h', 'hub', 'nội')",
                (f"test-c{n}", when, kind, f"test-s{n}"))
    snap = _reader(filled).snapshot()
    assert [tuple(w) for w in snap.consultations_weeks] == [(1, 2, 5), (2, 0, 0), (3, 0, 0),
                                                             (4, 0, 0)]


def test_the_usual_links_read_the_same_minute_of_earlier_weeks(filled):
    """Links up in the newest complete minute of heartbeats, one and two weeks back (moved
    there by the generator), as the raw heartbeats count them."""
    with connect(filled.database_url, filled.db_schema, autocommit=True) as conn:
        newest = conn.execute("SELECT max(occurred_at) FROM link_heartbeats").fetchone()[0]
        minute = newest.replace(second=0, microsecond=0) - timedelta(minutes=1)
        for weeks in (1, 2):
            back = minute - timedelta(weeks=weeks)
            generate(conn, load_province(filled.province_file), back - timedelta(minutes=2),
                     back + timedelta(minutes=2))
        # one link down in that minute of the week before
        conn.execute("UPDATE link_heartbeats SET status = 'down' WHERE link_id = (SELECT"
                     " min(link_id) FROM link_heartbeats) AND occurred_at >= %s AND"
                     " occurred_at < %s", (minute - timedelta(weeks=1),
                                           minute - timedelta(weeks=1, minutes=-1)))
        expected = conn.execute(
            "SELECT w.k, count(DISTINCT h.link_id) FILTER (WHERE NOT EXISTS (SELECT 1 FROM"
            "       link_heartbeats d WHERE d.link_id = h.link_id AND d.status = 'down'"
            "       AND d.occurred_at >= %s - make_interval(days => 7 * w.k)"
            "       AND d.occurred_at < %s - make_interval(days => 7 * w.k))),"
            "       count(DISTINCT h.link_id)"
            "  FROM generate_series(1, 4) AS w(k) LEFT JOIN link_heartbeats h"
            "    ON h.occurred_at >= %s - make_interval(days => 7 * w.k)"
            "   AND h.occurred_at < %s - make_interval(days => 7 * w.k)"
            " GROUP BY 1 ORDER BY 1",
            (minute, minute + timedelta(minutes=1)) * 2).fetchall()
    snap = _reader(filled).snapshot()
    assert [tuple(w) for w in snap.links_weeks] == [tuple(r) for r in expected]
    # every link heard in both weeks' minute, at least the one made down not up (the
    # generator downs a beat in 500 at random); weeks 3 and 4 held nothing
    assert expected[0][2] == expected[1][2] == 27 and expected[0][1] <= 26
    assert [r[1:] for r in expected[2:]] == [(0, 0), (0, 0)]


def test_twenty_walls_cost_one_read(filled):
    data = WallData.from_settings(filled.with_(refresh_seconds=60))
    threads = [threading.Thread(target=data.snapshot) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert data.reads == 1
    single = WallData.from_settings(filled.with_(refresh_seconds=60))
    single.snapshot()
    assert data.statements == single.statements


def test_staggered_walls_share_one_read_per_interval(filled):
    """Walls opened at different moments refresh out of step: still one read per interval."""
    now = [1000.0]
    walls = WallData.from_settings(filled.with_(refresh_seconds=5))
    walls.monotonic = lambda: now[0]
    one = WallData.from_settings(filled.with_(refresh_seconds=5))
    one.monotonic = lambda: now[0]
    for tick in range(4):  # four refresh intervals
        for wall in range(20):  # each wall's refresh lands at its own moment of the interval
            now[0] = 1000.0 + tick * 5 + wall * 0.24
            walls.snapshot()
            if wall == 7:
                one.snapshot()
    assert walls.reads == one.reads == 4
    assert walls.statements == one.statements


def test_a_lost_database_is_reported_and_the_last_figures_kept(filled):
    data = _reader(filled)
    data.interval = 0
    good = data.snapshot()
    data.connect = lambda: connect(f"postgresql://{READER_ROLE}@127.0.0.1:{free_port()}/x",
                                   filled.db_schema, timeout=1)
    data._drop()
    lost = data.snapshot()
    assert lost.lost_since is not None and "cannot reach the database" in lost.error
    assert lost.payments == good.payments and lost.read_at == good.read_at
    assert data.snapshot().lost_since == lost.lost_since  # since the first failure
    assert not data.ping()


def test_the_reader_cannot_write_nor_read_passwords(filled):
    url = role_url(filled.database_url, READER_ROLE, filled.reader_password)
    with connect(url, filled.db_schema, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM wall_users")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO wall_heartbeats (wall_id, page) VALUES ('x', '/')")
    url = role_url(filled.database_url, OPERATOR_ROLE, filled.operator_password)
    with (connect(url, filled.db_schema, autocommit=True) as conn,
          pytest.raises(psycopg.errors.InsufficientPrivilege)):
        conn.execute("UPDATE alerts SET acknowledged_by = 'me'")


def _insert_alert(settings, fingerprint: str, labels: dict) -> None:
    with connect(settings.database_url, settings.db_schema, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, labels, severity, state, summary_vi,"
            " summary_en, starts_at, updated_at) VALUES (%s, 'link_down', %s, 'critical',"
            " 'firing', 'Mất kết nối', 'Link down', now(), now())",
            (fingerprint, json.dumps(labels)))


def test_operator_actions_change_the_alert_and_are_audited(filled):
    _insert_alert(filled, "fp-1", {"unit": "16531"})
    op = Operator.from_settings(filled)
    op.acknowledge("fp-1", "an.nguyen", "đang gọi bệnh viện")
    with pytest.raises(ActionError, match="a comment is required"):
        op.acknowledge("fp-1", "an.nguyen", " ")
    silence = op.silence([{"name": "unit", "op": "=", "value": "16531"}],
                         datetime.now(UTC), 2, "an.nguyen", "bảo trì")
    data = _reader(filled)
    snap = data.snapshot()
    (alert,) = snap.alerts
    assert (alert.acknowledged_by, alert.ack_comment) == ("an.nguyen", "đang gọi bệnh viện")
    assert alert.silenced_by == silence and [s.id for s in snap.silences] == [silence]
    op.expire(silence, "an.nguyen")
    data.invalidate()
    assert data.snapshot().silences == ()
    with connect(filled.database_url, filled.db_schema) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["acknowledge", "silence", "expire"]


def test_login_hashes_only_through_the_operator_function(filled):
    with connect(filled.database_url, filled.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO wall_users (username, display_name, password_hash)"
                     " VALUES ('an.nguyen', 'Nguyễn An', %s)", (hash_password("bí mật 2026"),))
        conn.execute("INSERT INTO wall_users (username, display_name, password_hash, disabled)"
                     " VALUES ('old', 'Old', %s, true)", (hash_password("whatever1"),))
    op = Operator.from_settings(filled)
    name, stored = op.password_hash("an.nguyen")
    assert name == "Nguyễn An" and verify_password("bí mật 2026", stored)
    assert op.password_hash("old") is None and op.password_hash("nobody") is None


def test_heartbeats_are_batched_and_survive_a_lost_database(filled):
    book = HeartbeatBook(every=3600)
    at = datetime.now(UTC)
    for n in range(20):
        book.beat(f"wall-{n % 4}", "/alerts" if n % 4 == 0 else "/", n % 2 == 0, at)
    dead = Operator(lambda: connect(f"postgresql://x@127.0.0.1:{free_port()}/x", "x", timeout=1))
    assert book.flush_if_due(dead, force=True) == 0  # kept for the next flush
    op = Operator.from_settings(filled)
    assert book.flush_if_due(op, force=True) == 4  # one row per wall, not per beat
    assert book.flush_if_due(op) == 0  # not due again within `every`
    book.beat("wall-0", "/portal", True, at + timedelta(seconds=30))
    assert book.flush_if_due(op, force=True) == 1
    with connect(filled.database_url, filled.db_schema) as conn:
        rows = conn.execute("SELECT wall_id, page, kiosk, beats, last_seen_at - first_seen_at"
                            " FROM wall_heartbeats ORDER BY wall_id").fetchall()
    assert [r[0] for r in rows] == ["wall-0", "wall-1", "wall-2", "wall-3"]
    assert rows[0][1:] == ("/portal", True, 2, timedelta(seconds=30))


def test_replay_runs_are_read_from_the_replay_schema(filled, services):
    from ioc.migrate import migrate_database

    replay = filled.for_replay()
    migrate_database(replay, replay.database_url)
    with connect(filled.database_url, replay.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO replay_runs (recording, seed, speed, events_sent,"
                     " first_event_at, last_event_at) VALUES ('day.jsonl.gz', 7, 60, 1200,"
                     " '2026-03-02T01:30Z', '2026-03-02T02:00Z')")
    live = _reader(filled).snapshot()
    (run,) = live.replay_runs
    assert (run.recording, run.events_sent, run.active) == ("day.jsonl.gz", 1200, True)
    reader = role_url(filled.database_url, READER_ROLE, filled.reader_password)
    with connect(reader, replay.db_schema) as conn:
        snap, statements = read_snapshot(conn, replay.db_schema)
    assert snap.replay_runs == live.replay_runs and statements >= 2
