"""Retention of raw events on plain PostgreSQL, the same as TimescaleDB's policies.

On TimescaleDB, `ioc/sql/timescale/005_policies.sql` drops old chunks inside the database;
plain PostgreSQL (the embedded default) has no such job, so `ioc up` runs `apply_retention`
every hour: rows older than their table's age are deleted in batches (each its own short
transaction, so the sink's inserts never wait long). On plain PostgreSQL the aggregates are
views over the raw rows, so history older than a table's age goes with it; the wall reads at
most four weeks back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# table -> days kept: the add_retention_policy lines of ioc/sql/timescale/005_policies.sql
# (a test holds the two equal)
RETENTION_DAYS = {
    "portal_health": 90,
    "link_heartbeats": 90,
    "payments": 400,
    "dossier_events": 1100,
    "consultations": 1100,
}
BATCH_ROWS = 20_000


def backend_of(conn: psycopg.Connection) -> str | None:
    """The backend `schema_migrations` records for the connection's schema (None: none)."""
    row = conn.execute("SELECT min(backend) FROM schema_migrations").fetchone()
    return row[0] if row else None


def apply_retention(conn: psycopg.Connection, now: datetime,
                    batch: int = BATCH_ROWS) -> dict[str, int]:
    """Delete the rows past their table's age (plain PostgreSQL only: TimescaleDB does it
    itself); return the rows deleted per table. `conn`: autocommit, search_path set."""
    if backend_of(conn) != "postgres":
        return {}
    deleted = {}
    for table, days in RETENTION_DAYS.items():
        before = now - timedelta(days=days)
        query = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {t}"
            " WHERE occurred_at < %s LIMIT %s))").format(t=sql.Identifier(table))
        total = 0
        while True:
            n = conn.execute(query, (before, batch)).rowcount
            total += n
            if n < batch:
                break
        deleted[table] = total
        if total:
            log.info("retention: deleted %d rows of %s older than %d days", total, table, days)
    return deleted
