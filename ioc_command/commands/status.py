"""`ioc status`: per feed rows stored, newest event and consumer lag; dead letters; alerts
firing."""

from __future__ import annotations

import argparse
import json

from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings
from ioc_command.services import require_running

HELP = "per feed: rows stored, newest event, consumer lag"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.status import collect

    require_running(settings, db=True)  # the broker's absence is part of the answer
    db, kafka = embedded_urls(settings)
    doc = collect(settings, db, kafka)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    for feed, f in doc["feeds"].items():
        print(f"{feed:<13} rows {f['rows_stored']:>10}  newest {f['newest_event_at'] or '-':<32}"
              f"  lag {f['consumer_lag'] if f['consumer_lag'] is not None else '?'}")
    print(f"dead letters  {doc['dead_letters']}")
    print(f"alerts firing {len(doc['alerts'])}")
    for alert in doc["alerts"]:
        print(f"  {alert['severity']:<8} {alert['summary_vi']}")
    if "kafka_error" in doc:
        print(f"kafka: {doc['kafka_error']}")
    return 0
