"""`ioc migrate`: the ioc/sql/ migrations applied to the database."""

from __future__ import annotations

import argparse

from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings
from ioc_command.services import database

HELP = "apply the ioc/sql/ migrations to the database"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options: the schema is IOC_DB_SCHEMA."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.migrate import migrate_database

    with database(settings, migrate=False) as settings:
        db, _ = embedded_urls(settings)
        applied = migrate_database(settings, db)
    print(f"schema {settings.db_schema}: " + (f"applied {', '.join(applied)}" if applied
                                               else "already up to date"))
    return 0
