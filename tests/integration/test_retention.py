"""Retention on plain PostgreSQL (the embedded default): the same ages as TimescaleDB's
policies, raw rows past them deleted in batches, younger ones kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from ioc.db import connect
from ioc.province import load_province
from ioc.resources import shipped_path
from ioc.retention import RETENTION_DAYS, apply_retention
from proof.bench.wall import generate

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Vietnam: every feed busy


def test_the_ages_are_the_timescale_policies():
    policies = shipped_path("ioc", "sql", "timescale", "005_policies.sql").read_text()
    found = {t: int(d) for t, d in re.findall(
        r"add_retention_policy\('(\w+)', INTERVAL '(\d+) days'\)", policies)}
    assert found == RETENTION_DAYS


def test_rows_past_their_age_are_deleted_younger_ones_kept(migrated):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        rows = generate(conn, load_province(migrated.province_file), START,
                        START + timedelta(hours=2))
        assert all(rows[t] > 0 for t in RETENTION_DAYS), rows

        def left() -> dict[str, int]:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in RETENTION_DAYS}

        assert apply_retention(conn, START + timedelta(days=89)) == dict.fromkeys(
            RETENTION_DAYS, 0)
        # 91 days on: the heartbeats and health checks go (in batches of 500), the rest stays
        deleted = apply_retention(conn, START + timedelta(days=91), batch=500)
        assert deleted == {t: rows[t] if RETENTION_DAYS[t] == 90 else 0 for t in RETENTION_DAYS}
        assert left() == {t: 0 if RETENTION_DAYS[t] == 90 else rows[t] for t in RETENTION_DAYS}
        apply_retention(conn, START + timedelta(days=401))
        assert left()["payments"] == 0 and left()["dossier_events"] == rows["dossier_events"]
        apply_retention(conn, START + timedelta(days=1101))
        assert left() == dict.fromkeys(RETENTION_DAYS, 0)
