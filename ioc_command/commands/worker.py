"""`ioc worker`: the stream processor (Faust) that validates and stores the feeds."""

from __future__ import annotations

import argparse

from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings

HELP = "run the stream processor (Faust) that stores the feeds"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replay", action="store_true",
                   help="serve the replay namespace (topics <prefix>.replay.*, "
                        "schema <schema>_replay)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from ioc.topics import ensure_topics
    from streams.app import create_app

    if args.replay:
        settings = settings.for_replay()
    _, bootstrap = embedded_urls(settings)
    # real producers may come before any simulator
    copies = ensure_topics(settings, bootstrap)
    app = create_app(settings.with_(kafka_bootstrap=bootstrap), live=not args.replay,
                     replication=copies)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                          redirect_stdouts=False)
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0
