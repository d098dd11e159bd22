"""sql/ on the real embedded PostgreSQL: ordered, recorded, idempotent; roles enforced."""

from __future__ import annotations

import psycopg
import pytest

from ioc.db import READER_ROLE, WRITER_ROLE, connect, role_url
from ioc.errors import MigrationError
from ioc.migrate import migrate, migrate_database, plan

pytestmark = pytest.mark.integration

READER_VIEWS = ("feed_stats", "payments_1m", "dossiers_1h", "link_heartbeats_1m",
                "portal_health_1m")


def test_applies_every_file_once_then_is_a_no_op(settings):
    applied = migrate_database(settings, settings.database_url)
    assert applied == [m.name for m in plan("postgres")]
    assert migrate_database(settings, settings.database_url) == []
    with connect(settings.database_url, settings.db_schema) as conn:
        rows = conn.execute("SELECT version, backend FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for v, _ in rows] == [m.version for m in plan("postgres")]
    assert {b for _, b in rows} == {"postgres"}


def test_a_failing_file_rolls_back_and_names_itself(settings, tmp_path):
    sql_dir = tmp_path / "sql"
    (sql_dir / "common").mkdir(parents=True)
    (sql_dir / "postgres").mkdir()
    (sql_dir / "common" / "001_ok.sql").write_text("CREATE TABLE ok_table (x int);")
    (sql_dir / "postgres" / "002_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;")
    with connect(settings.database_url, "public") as conn:
        with pytest.raises(MigrationError, match="postgres/002_broken.sql failed"):
            migrate(conn, settings.db_schema, "postgres", sql_dir=sql_dir)
        conn.execute(f"SET search_path TO {settings.db_schema}")
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [1]
        # the failed file's first statement was rolled back with it
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('ok_table')").fetchone()[0] is not None


def test_backend_mismatch_is_refused(settings):
    migrate_database(settings, settings.database_url)
    with connect(settings.database_url, "public") as conn:
        conn.execute(f"UPDATE {settings.db_schema}.schema_migrations SET backend = 'timescale'")
        conn.commit()
        with pytest.raises(MigrationError, match="was migrated for timescale"):
            migrate(conn, settings.db_schema, "postgres")


def test_reader_role_is_read_only_with_a_statement_timeout(migrated):
    url = role_url(migrated.database_url, READER_ROLE, migrated.reader_password)
    with connect(url, migrated.db_schema, autocommit=True) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "5s"
        for view in READER_VIEWS:
            conn.execute(f"SELECT * FROM {view} LIMIT 1")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, feed,"
                         " reason, raw) VALUES ('t', 0, 0, 'portal', 'x', '')")
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SET statement_timeout = '100ms'")
            conn.execute("SELECT pg_sleep(1)")


def test_writer_role_may_insert_but_not_change_the_schema(migrated):
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)
    with connect(url, migrated.db_schema) as conn:
        conn.execute("INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, feed,"
                     " reason, raw) VALUES ('t', 0, 0, 'portal', 'x', '')")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE payments")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM payments")
