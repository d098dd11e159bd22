"""`ioc replay FILE`: a recording sent again in order, paced by its event times, into the
replay namespace (its own topics and schema: replayed data never mixes with live data)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from ioc.services.endpoints import embedded_urls
from ioc.services.process import stop_on_signals
from ioc.settings import Settings
from ioc_command.arguments import speed
from ioc_command.services import require_running

HELP = "re-send a recording in order, paced by its event times"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="a recording made with --record")
    p.add_argument("--speed", type=speed, default=1.0, metavar="X|max",
                   help="event-time seconds per second, or max (default 1)")
    p.add_argument("--rebase", action="store_true",
                   help="move every event time so the recorded period ends as the replay "
                        "does (at speed 1: the first event happens now)")
    p.add_argument("--keep", action="store_true",
                   help="keep the previous replay's events (default: the replay schema is "
                        "emptied; its alerts always are: they are evaluated again)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.db import connect
    from ioc.migrate import migrate_database
    from ioc.topics import ensure_topics
    from simulators.producer import FeedProducer
    from simulators.recording import read_header, read_records
    from simulators.replay import ReplayRuns, rebase_shift, replay

    header = read_header(args.file)
    require_running(settings, db=True, kafka=True)  # its replay worker stores what it sends
    target = settings.for_replay()  # replayed data never mixes with live data
    db, bootstrap = embedded_urls(settings)
    migrate_database(target, db)
    ensure_topics(target, bootstrap)
    producer = FeedProducer(target, bootstrap, source="replay")
    span: dict[str, float | None] = {"first": None, "last": None}
    with connect(db, target.db_schema) as conn:
        runs = ReplayRuns(conn)
        runs.clear_replayed_data(events=not args.keep)
        runs.begin(str(args.file), header.get("seed"), args.speed, args.rebase)

        def progress(sent: int, first: float, last: float) -> None:
            span.update(first=first, last=last)
            runs.progress(sent, first, last)

        shift = None
        if args.rebase:  # a first pass finds the recorded period
            sends = [r.send_time for r in read_records(args.file)]
            if sends:
                shift = rebase_shift(sends[0], max(sends), time.time(), args.speed)
        began = time.perf_counter()
        sent = 0
        try:
            sent = replay(read_records(args.file), producer, stop_on_signals(), args.speed,
                          shift=shift, progress=progress)
            producer.flush()
        finally:
            runs.finish(sent, span["first"], span["last"])
    seconds = time.perf_counter() - began

    def iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()

    print(json.dumps({
        "events": sent, "recording": str(args.file), "seed": header.get("seed"),
        "topic_prefix": target.topic_prefix, "db_schema": target.db_schema,
        "run_id": runs.run_id, "seconds": round(seconds, 3),
        "events_per_second": round(sent / seconds) if seconds else None,
        "first_event_at": iso(span["first"]), "last_event_at": iso(span["last"]),
    }))
    return 0
