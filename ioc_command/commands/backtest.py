"""`ioc backtest`: how the alert rules fire over a recording or stored history, in the
backtest namespace (never the live alerts, never notifies)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ioc.errors import IocError
from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings
from ioc_command.arguments import moment, workers
from ioc_command.services import database

HELP = "how the alert rules fire over a recording or stored history"
DESCRIPTION = ("Evaluate the alert rules in event time over a recording (ioc simulate "
               "--record) or over stored history, with the live sink and engine, in the "
               "backtest namespace (<schema>_backtest; never the live alerts, never "
               "notifies); print every alert with its state changes and a summary per "
               "rule; --against FILE: what a second rules file fires differently. "
               "Progress on stderr; each run is kept there under a run id.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recording", type=Path, help="a recording file (.jsonl.gz)")
    p.add_argument("--from", dest="since", type=moment, help="stored history from (ISO)")
    p.add_argument("--to", dest="until", type=moment, help="stored history to (ISO)")
    p.add_argument("--rules", type=Path, help="rules file (default: IOC_ALERT_RULES)")
    p.add_argument("--against", type=Path, help="a second rules file to compare with")
    p.add_argument("--workers", type=workers, default=os.cpu_count() or 1, metavar="N",
                   help="processes the rules are evaluated in, split between them (default: "
                        "this machine's cores; the result is the same for any N)")
    p.add_argument("--json", action="store_true", help="print JSON (byte-identical for the "
                                                       "same input and rules)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.calendar import settings_calendar
    from ioc.known_codes import KnownCodes
    from ioc.migrate import migrate_database
    from ioc.province import load_province
    from ioc.refusals import reason_label
    from ioc.units import UnitsDataset
    from simulators.recording import read_header, read_records
    from streams.alerts.backtest import run as run_backtest
    from streams.alerts.rules import load_rules

    if args.recording is None and (args.since is None or args.until is None):
        raise IocError("give --recording FILE, or --from and --to (stored history)")
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise IocError("--to must be after --from")
    if args.recording is not None:
        read_header(args.recording)  # a file that is no recording stops here, named
    rules_path = args.rules or settings.alert_rules
    rules = load_rules(rules_path)
    against = load_rules(args.against) if args.against else None
    province = load_province(settings.province_file)
    with database(settings, create=args.recording is not None) as settings:
        url = embedded_urls(settings)[0]
        backtest = settings.for_backtest()
        migrate_database(backtest, url)
        run_id, result = run_backtest(
            url, backtest.db_schema, settings.db_schema, rules, against, province,
            settings_calendar(settings), KnownCodes(province, UnitsDataset()),
            recording=(str(args.recording), read_records(args.recording))
            if args.recording else None, since=args.since, until=args.until,
            names=(str(rules_path), str(args.against) if args.against else None),
            label=reason_label, workers=args.workers)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, sort_keys=True, indent=1))
        return 0
    print(f"run {run_id}: {result['events']['stored']} events, "
          f"{result['period']['first_event']} – {result['period']['last_event']}")
    if result["left_out"]:
        print("left out (they watch the running system, not the data): "
              + ", ".join(result["left_out"]))
    for rule, s in result["summary"].items():
        print(f"{rule:<28} fired {s['fired']:>4}  firing {s['firing_seconds'] / 60:8.1f} min")
    for a in result["alerts"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        for e in a["episodes"]:
            print(f"  {a['rule']} {{{labels}}} {e['starts_at']} → {e['ends_at'] or '…'}")
    if "against" in result:
        for side, name in (("only_with_rules", "only with --rules"),
                           ("only_with_against", "only with --against")):
            print(f"{name}: {len(result['against'][side])}")
            for e in result["against"][side]:
                print(f"  {e['rule']} {e['labels']} {e['starts_at']} → {e['ends_at'] or '…'}")
    return 0
