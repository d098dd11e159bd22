"""`ioc alerter`: the alert engine, evaluating the rules on event time and storing alerts."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "evaluate the alert rules on event time, store alerts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replay", action="store_true",
                   help="on the replay namespace (<schema>_replay); a replay never notifies")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.alerts.cli import cmd_alerter

    return cmd_alerter(args, settings)
