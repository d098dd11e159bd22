"""`ioc bench --suite NAME`: speed measured on loopback, printed as JSON with its targets."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ioc.settings import Settings

HELP = "measure speed on loopback and print the figures as JSON"

SUITES = {
    # suite -> module with `add_arguments(parser)` and `run(args, settings) -> dict`
    # (figures printed as JSON)
    "pipeline": "proof.bench.pipeline",
    "feeds": "proof.bench.feeds",
    "wall": "proof.bench.wall",
    "alerts": "proof.bench.alerts",
    "backtest": "proof.bench.backtest",
    "identity": "proof.bench.identity",
    "intake": "proof.bench.intake",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a figure misses its target (the `targets` in the JSON)")
    p.add_argument("--suite", choices=sorted(SUITES), default="pipeline",
                   help="pipeline: stream processors (default); feeds: simulator and replay; "
                        "alerts: alert latency and catch-up; wall: dashboard refresh cost; "
                        "intake: the HTTP intake against the direct producer")
    p.add_argument("--json", action="store_true", help="one line of JSON (default: indented)")
    for module in SUITES.values():  # each suite adds its own options
        importlib.import_module(module).add_arguments(p)


def run(args: argparse.Namespace, settings: Settings) -> int:
    figures = importlib.import_module(SUITES[args.suite]).run(args, settings)
    print(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2))
    missed = [k for k, v in figures.get("targets", {}).items() if k.endswith("_met") and not v]
    if args.check and missed:
        print(f"ioc bench: targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0
