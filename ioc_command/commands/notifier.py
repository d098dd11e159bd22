"""`ioc notifier`: groups alerts and delivers webhooks and Alertmanager pushes."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "group alerts and deliver webhooks / Alertmanager pushes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options: the receivers come from IOC_* and the rules file."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.alerts.cli import cmd_notifier

    return cmd_notifier(args, settings)
