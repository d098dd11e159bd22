"""Applies `ioc/sql/` to a schema: ordered files, each in its own transaction, recorded once.

`ioc/sql/common/` applies everywhere; `ioc/sql/timescale/` or `ioc/sql/postgres/` is chosen by the
backend. Files are named `NNN_name.sql`; NNN orders them and is the recorded version.
Re-running is a no-op. Role settings that come from configuration (statement_timeout,
passwords) are applied on every run, since they can change without a new file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from ioc.db import OPERATOR_ROLE, READER_ROLE, WRITER_ROLE, connect
from ioc.errors import MigrationError
from ioc.resources import SQL_DIR
from ioc.settings import Settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any fixed number: all runners against one database serialise on it.
_LOCK_KEY = 4_206_042
# connections the read-only role may hold at once, every wall process and `ioc status` together
READER_CONNECTION_LIMIT = 50


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def plan(backend: str, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The ordered migrations of `backend` ('postgres' or 'timescale')."""
    found: dict[int, Migration] = {}
    for folder in ("common", backend):
        for path in sorted((sql_dir / folder).glob("*.sql")):
            match = _NAME.match(path.name)
            if not match:
                raise MigrationError(f"{path}: migration files must be named NNN_name.sql")
            version = int(match.group(1))
            if version in found:
                raise MigrationError(
                    f"{path}: version {version:03d} is also used by {found[version].path}"
                )
            found[version] = Migration(version, f"{folder}/{path.name}", path)
    return [found[v] for v in sorted(found)]


def detect_backend(conn: psycopg.Connection, wanted: str) -> str:
    """'timescale' when asked for (or 'auto' and the extension is installable), else 'postgres'."""
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone() is not None
    if wanted == "timescale" and not available:
        raise MigrationError(
            "IOC_DB_BACKEND=timescale but the timescaledb extension is not available on this "
            "server; use a TimescaleDB server or set IOC_DB_BACKEND=postgres"
        )
    if wanted == "postgres" or not available:
        return "postgres"
    return "timescale"


def migrate(
    conn: psycopg.Connection,
    schema: str,
    backend: str = "auto",
    *,
    reader_statement_timeout_ms: int = 5000,
    writer_password: str | None = None,
    reader_password: str | None = None,
    operator_password: str | None = None,
    sql_dir: Path = SQL_DIR,
) -> list[Migration]:
    """Bring `schema` up to date; return the migrations applied now (empty when current)."""
    conn.autocommit = True
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        backend = detect_backend(conn, backend)
        if backend == "timescale":
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, backend text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema)))
    conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
    recorded = conn.execute("SELECT version, backend FROM schema_migrations").fetchall()
    done = {version for version, _ in recorded}
    other = {b for _, b in recorded if b != backend}
    if other:
        raise MigrationError(
            f"schema {schema!r} was migrated for {other.pop()}, not {backend}; "
            "use another IOC_DB_SCHEMA or set IOC_DB_BACKEND to match"
        )
    applied = []
    for migration in plan(backend, sql_dir):
        if migration.version in done:
            continue
        log.info("applying %s to schema %s", migration.name, schema)
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                if conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                ).fetchone():
                    continue  # another runner applied it while we waited for the lock
                conn.execute(migration.path.read_text(encoding="utf-8"))
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, backend) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, backend),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"{migration.name} failed: {str(exc).strip()}") from None
        applied.append(migration)
    _configure_roles(conn, reader_statement_timeout_ms, writer_password, reader_password,
                     operator_password)
    return applied


def _configure_roles(conn: psycopg.Connection, timeout_ms: int,
                     writer_password: str | None, reader_password: str | None,
                     operator_password: str | None = None) -> None:
    conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
        sql.Identifier(READER_ROLE), sql.Literal(int(timeout_ms))))
    # the reader may lift its own statement_timeout (any role may SET it): what bounds it is
    # that only the wall knows its password, and this cap on its connections
    conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
        sql.Identifier(READER_ROLE), sql.Literal(READER_CONNECTION_LIMIT)))
    for role, password in ((WRITER_ROLE, writer_password), (READER_ROLE, reader_password),
                           (OPERATOR_ROLE, operator_password)):
        if password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))


def migrate_database(settings: Settings, database_url: str) -> list[str]:
    """Apply `ioc/sql/` with the owner URL; return the names of the files applied now."""
    with connect(database_url, "public") as conn:
        applied = migrate(
            conn, settings.db_schema, settings.db_backend,
            reader_statement_timeout_ms=settings.reader_statement_timeout_ms,
            writer_password=settings.writer_password,
            reader_password=settings.reader_password,
            operator_password=settings.operator_password,
        )
    return [m.name for m in applied]
