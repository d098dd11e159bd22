"""sql/ on the real embedded PostgreSQL: ordered, recorded, idempotent; roles enforced."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from ioc.db import READER_ROLE, WRITER_ROLE, connect, role_url
from ioc.errors import MigrationError
from ioc.migrate import migrate, migrate_database, plan
from ioc.resources import SQL_DIR

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


def test_rows_of_the_2022_district_slugs_go_to_the_seat_commune_keeping_the_slug(settings,
                                                                                 tmp_path):
    """A database written by a version before 1/7/2025 (041 not yet applied) holds rows named
    by district slugs; after 041 they count in the commune that took in the district seat,
    the slug kept in unit_codes_sent; other rows are untouched."""
    before = tmp_path / "sql"
    shutil.copytree(SQL_DIR, before)
    (before / "common" / "041_district_slugs_2022.sql").unlink()
    with connect(settings.database_url, "public") as conn:
        migrate(conn, settings.db_schema, "postgres", sql_dir=before)
        conn.execute(f"SET search_path TO {settings.db_schema}")
        conn.execute(
            "INSERT INTO payments (event_id, occurred_at, unit_code, unit_codes, payment_id,"
            " category, channel, amount_vnd, status) VALUES"
            " ('old-1', now(), 'ba-thuoc', ARRAY['ba-thuoc', 'tp-thanh-hoa'], 'p1', 'tuition',"
            "  'qr_code', 1000, 'succeeded'),"
            " ('old-2', now(), 'van-lam', ARRAY['van-lam'], 'p2', 'tuition', 'qr_code', 1000,"
            "  'succeeded'),"
            " ('new-1', now(), '14797', ARRAY['14797'], 'p3', 'tuition', 'qr_code', 1000,"
            "  'succeeded')")
        conn.commit()
        applied = migrate(conn, settings.db_schema, "postgres")
        assert [m.version for m in applied] == [41]
        conn.execute(f"SET search_path TO {settings.db_schema}")
        rows = conn.execute("SELECT event_id, unit_code, unit_codes, unit_codes_sent"
                            " FROM payments ORDER BY event_id").fetchall()
    assert rows == [("new-1", "14797", ["14797"], None),
                    ("old-1", "14923", ["14923", "14797"], ["ba-thuoc", "tp-thanh-hoa"]),
                    ("old-2", "12004", ["12004"], ["van-lam"])]  # Hưng Yên's Văn Lâm
