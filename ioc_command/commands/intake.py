"""`ioc intake`: the HTTP intake the province's systems send their events to."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "serve the HTTP intake (POST /v1/events) for the province's systems"
DESCRIPTION = ("Serve POST /v1/events on IOC_INTAKE_HOST:IOC_INTAKE_PORT: contract events "
               "from sources with a key (`ioc sources add`), each answered accepted, duplicate "
               "or refused; the OpenAPI document at /v1/openapi.json (docs/intake.md).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, settings: Settings) -> int:
    from intake.server import serve
    from ioc.db import WRITER_ROLE
    from ioc.services import postgres
    from ioc.services.endpoints import embedded_urls
    from ioc.topics import ensure_topics
    from ioc_command.services import require_running

    if settings.embedded_db or settings.embedded_kafka:
        require_running(settings, db=True, kafka=True)
    database, bootstrap = embedded_urls(settings)
    if settings.embedded_db:  # beside `ioc up`: its database and its generated role passwords
        found = postgres.load_secrets(settings.data_dir.resolve()) or {}
        settings = settings.with_(database_url=database, writer_password=(
            settings.writer_password or found.get(WRITER_ROLE)))
    ensure_topics(settings, bootstrap)
    serve(settings, bootstrap)
    return 0
