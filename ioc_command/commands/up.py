"""`ioc up`: everything on one machine (embedded services, migrations, workers, simulator,
alerter, notifier, wall)."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "run everything: services, migrations, worker, simulator, wall"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--for", dest="for_seconds", type=float, metavar="SECONDS",
                   help="stop by itself after this many seconds (default: until Ctrl-C)")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help="layer a scenario's incidents on the live simulation (`ioc scenarios`)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc_command.up import run_up

    if args.scenario:  # fail now, not in a child part
        from simulators.scenarios import load_scenario, scenario_path

        load_scenario(scenario_path(args.scenario))
    return run_up(settings, args.for_seconds, scenario=args.scenario)
