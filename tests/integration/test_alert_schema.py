"""ioc/sql/common/010_alerts.sql on the real embedded PostgreSQL: operators act only through
the audited SECURITY DEFINER functions; silences match labels like Alertmanager's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ioc.db import OPERATOR_ROLE, READER_ROLE, connect, role_url

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _insert_alert(conn, fingerprint="fp1", labels=None):
    conn.execute(
        "INSERT INTO alerts (fingerprint, rule, labels, severity, state, value, threshold,"
        " summary_vi, summary_en, starts_at, updated_at)"
        " VALUES (%s, 'link_down', %s, 'critical', 'firing', 95, 60, 'vi', 'en', %s, %s)",
        (fingerprint, json.dumps(labels or {"link_id": "BV-01"}), T0, T0))


def test_operator_acknowledges_and_silences_only_through_functions(migrated):
    schema = migrated.db_schema
    with connect(migrated.database_url, schema, autocommit=True) as owner:
        _insert_alert(owner)
    op_url = role_url(migrated.database_url, OPERATOR_ROLE, migrated.operator_password)
    with connect(op_url, schema, autocommit=True) as op:
        op.execute("SELECT alert_acknowledge('fp1', 'trực ban An', 'đang gọi bệnh viện')")
        now = datetime.now(UTC)
        sid = op.execute(
            "SELECT silence_create(%s, %s, %s, 'An', 'bảo trì')",
            (json.dumps([{"name": "link_id", "op": "=~", "value": "BV-0[1-3]"}]),
             now - timedelta(minutes=1), now + timedelta(hours=1))).fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            op.execute("UPDATE alerts SET state = 'resolved'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            op.execute("SELECT * FROM alerts")
        with pytest.raises(psycopg.errors.RaiseException, match="no alert with fingerprint"):
            op.execute("SELECT alert_acknowledge('nope', 'An', 'x')")
        with pytest.raises(psycopg.errors.RaiseException, match="bad matcher"):
            op.execute("SELECT silence_create('[{\"name\": \"a\"}]', now(), now() + '1h',"
                       " 'An', 'x')")
        with pytest.raises(psycopg.errors.RaiseException, match="bad regular expression"):
            op.execute("SELECT silence_create('[{\"name\": \"a\", \"op\": \"=~\","
                       " \"value\": \"(\"}]', now(), now() + '1h', 'An', 'x')")
        with pytest.raises(psycopg.errors.RaiseException, match="comment is required"):
            op.execute("SELECT alert_acknowledge('fp1', 'An', ' ')")
    reader = role_url(migrated.database_url, READER_ROLE, migrated.reader_password)
    with connect(reader, schema, autocommit=True) as conn:
        row = conn.execute("SELECT acknowledged_by, ack_comment, silenced_by FROM alerts_current"
                           " WHERE fingerprint = 'fp1'").fetchone()
        assert row == ("trực ban An", "đang gọi bệnh viện", sid)
        actions = conn.execute("SELECT actor, action, target FROM audit_log ORDER BY id").fetchall()
        assert actions == [("trực ban An", "acknowledge", "fp1"),
                           ("An", "silence", f"silence/{sid}")]
    with connect(op_url, schema, autocommit=True) as op:
        op.execute("SELECT silence_expire(%s, 'Bình')", (sid,))
        with pytest.raises(psycopg.errors.RaiseException, match="no unexpired silence"):
            op.execute("SELECT silence_expire(%s, 'Bình')", (sid,))
    with connect(reader, schema, autocommit=True) as conn:
        assert conn.execute("SELECT silenced_by FROM alerts_current").fetchone()[0] is None
        assert conn.execute("SELECT action, actor FROM audit_log ORDER BY id DESC LIMIT 1"
                            ).fetchone() == ("expire", "Bình")


@pytest.mark.parametrize(("matchers", "expected"), [
    ([{"name": "link_id", "op": "=", "value": "BV-01"}], True),
    ([{"name": "link_id", "op": "!=", "value": "BV-01"}], False),
    ([{"name": "alertname", "op": "=", "value": "link_down"}], True),
    ([{"name": "link_id", "op": "=~", "value": "BV"}], False),  # regexes match the whole value
    ([{"name": "link_id", "op": "!~", "value": "XX.*"}], True),
    ([{"name": "severity", "op": "=", "value": "critical"},
      {"name": "unit", "op": "=", "value": "x"}], False),
])
def test_silence_matchers(migrated, matchers, expected):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        got = conn.execute(
            "SELECT silence_matches(%s, %s)",
            (json.dumps(matchers),
             json.dumps({"link_id": "BV-01", "alertname": "link_down", "severity": "critical"}))
        ).fetchone()[0]
    assert got is expected
