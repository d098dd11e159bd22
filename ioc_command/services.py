"""The services a command needs, found or started for as long as it runs.

Why: on a fresh machine, or beside an `ioc up` that was stopped, a command that needs the
database failed with "cannot reach the database at 127.0.0.1:55432" and left the user to
guess what to start (issue 40, item 7). A command that only needs a database for itself
(`ioc backtest`, `ioc migrate`, `ioc wall-user`) now starts the embedded PostgreSQL kept
under IOC_DATA_DIR, migrated as `ioc up` would, and stops it when it ends; one that reads
what the running system stored (`ioc alerts`, `ioc indicators`) starts it only when it holds
something; one that is about the running system (`ioc status`, `ioc replay`, `ioc simulate`)
says in one line what to start. Configured services (IOC_DATABASE_URL, IOC_KAFKA_BOOTSTRAP)
are used as given: their own errors name them.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ioc.errors import ServiceError
from ioc.services import broker, postgres
from ioc.settings import Settings

START_UP = "start `ioc up` (in another terminal) first"


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def database(settings: Settings, *, create: bool = True, migrate: bool = True
             ) -> Iterator[Settings]:
    """`settings` with a database that answers while the block runs: the configured one, the
    embedded one `ioc up` runs, or the embedded one under IOC_DATA_DIR started here (made
    there first when `create`, else a data folder with none stops the command, saying so;
    migrated when `migrate`, as `ioc up` does)."""
    if not settings.embedded_db or answers(postgres.HOST, settings.embedded_db_port):
        yield settings
        return
    server = postgres.EmbeddedPostgres(settings.data_dir, settings.embedded_db_port)
    if not create and not (server.pgdata / "PG_VERSION").exists():
        raise ServiceError(f"nothing is stored under {server.data_dir} yet: {START_UP}, or set "
                           "IOC_DATABASE_URL")
    from ioc.migrate import migrate_database

    server.start()
    print(f"ioc: started the embedded PostgreSQL in {server.pgdata} for this command; it "
          "stops when the command ends", file=sys.stderr, flush=True)
    try:
        here = server.configure(settings)
        if migrate:  # the schema every command expects
            migrate_database(here, server.url)
        yield here
    finally:
        server.stop()


def require_running(settings: Settings, *, db: bool = False, kafka: bool = False) -> None:
    """Stop with one line naming what to start when an embedded service the command works
    with (the running system's, not one of its own) does not answer."""
    missing, settings_names = [], []
    if db and settings.embedded_db and not answers(postgres.HOST, settings.embedded_db_port):
        missing.append(f"the embedded PostgreSQL (port {settings.embedded_db_port})")
        settings_names.append("IOC_DATABASE_URL")
    if kafka and settings.embedded_kafka and not answers(broker.HOST,
                                                         settings.embedded_kafka_port):
        missing.append(f"the embedded broker (port {settings.embedded_kafka_port})")
        settings_names.append("IOC_KAFKA_BOOTSTRAP")
    if missing:
        raise ServiceError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                           f"not running: {START_UP}, or set {' and '.join(settings_names)}")
