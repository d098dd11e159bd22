"""`ioc chaos`: the fault runs (proof/chaos.py)."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "fault runs: kills, rebalances, outages, poison, notifier; JSON figures"
DESCRIPTION = ("Fault runs on loopback with their own embedded PostgreSQL and broker: "
               "prove nothing is lost, doubled or stuck. One JSON object per scenario; "
               "exit code 1 when any scenario misses its bar (docs/reliability.md).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from proof.chaos import add_arguments as add_chaos_arguments

    add_chaos_arguments(p)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from proof.chaos import run as run_chaos

    return run_chaos(args, settings)
