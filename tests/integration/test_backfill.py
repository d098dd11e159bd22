"""A first start's simulated history (IOC_BACKFILL_HOURS): `ioc simulate --backfill-hours`
stores the hours before now straight into an empty database, once, then goes on live; the
alert engine waits for all of it, then evaluates it from its first hour, past the live
catch-up limit."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from ioc.calendar import load_calendar
from ioc.db import connect
from ioc.province import load_province
from streams.alerts.engine import Engine
from streams.alerts.rules import load_rules
from tests.conftest import run_ioc

pytestmark = pytest.mark.integration

TABLES = ("dossier_events", "portal_health", "link_heartbeats", "consultations", "payments")


def simulate(settings, *args: str) -> subprocess.CompletedProcess:
    return run_ioc("simulate", *args, settings=settings)


def test_the_hours_before_now_are_stored_once_and_evaluated_from_their_start(migrated):
    began = datetime.now(UTC)
    done = simulate(migrated, "--backfill-hours", "1.5", "--duration", "2", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert "backfill: simulated history stored up to" in done.stderr  # progress
    assert json.loads(done.stdout.strip().splitlines()[-1])["seed"] == 5
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        def stored() -> tuple[int, datetime, datetime]:
            return conn.execute("SELECT sum(n), min(a), max(b) FROM (" + " UNION ALL ".join(
                f"SELECT count(*) AS n, min(occurred_at) AS a, max(occurred_at) AS b FROM {t}"
                for t in TABLES) + ") AS s").fetchone()

        rows = conn.execute("SELECT period_from, period_to, seed, events, finished_at"
                            " FROM backfills").fetchall()
        assert len(rows) == 1
        since, until, seed, events, finished = rows[0]
        assert seed == 5 and finished is not None
        assert abs(since - (began - timedelta(hours=1.5))).total_seconds() < 30
        assert timedelta(0) <= datetime.now(UTC) - until < timedelta(seconds=30)
        count, first, last = stored()
        # an hour and a half of Thanh Hóa: 27 links beat every 5 s
        assert events == count > 27 * 1000
        assert since <= first < since + timedelta(seconds=15)
        assert until - timedelta(seconds=15) < last < until
        # a second start finds events stored: no second history
        again = simulate(migrated, "--backfill-hours", "1.5", "--duration", "1")
        assert again.returncode == 0, again.stderr
        assert "backfill:" not in again.stderr
        assert conn.execute("SELECT count(*) FROM backfills").fetchone()[0] == 1
        assert stored()[0] == count

        # the live engine waits while a history is being stored, then begins at its start,
        # though that is beyond its one-hour catch-up limit
        rules = load_rules(migrated.alert_rules)
        assert rules.evaluation.max_catchup_seconds < 1.5 * 3600
        engine = Engine(conn, rules, load_province(migrated.province_file), load_calendar())
        conn.execute("UPDATE backfills SET finished_at = NULL")
        assert engine.run_once() == 0 and engine.step_at is None
        conn.execute("UPDATE backfills SET finished_at = now()")
        assert engine.run_once() > 0
        assert engine.origin == first.replace(microsecond=0)
