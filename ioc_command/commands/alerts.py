"""`ioc alerts ACTION`: operators list alerts and their history, acknowledge, silence and
expire silences (audited, as the wall's buttons are)."""

from __future__ import annotations

import argparse

from ioc.settings import Settings
from ioc_command.services import database

HELP = "list alerts; acknowledge, silence, expire (audited)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from streams.alerts.cli import matcher_argument, parse_duration

    p.add_argument("--replay", action="store_true", help="the replay namespace's alerts")
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    a = asub.add_parser("list", help="active alerts (--all: resolved too)")
    a.add_argument("--all", action="store_true")
    a.add_argument("--json", action="store_true")
    a = asub.add_parser("history", help="the newest state changes")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    a = asub.add_parser("ack", help="acknowledge an alert with a comment")
    a.add_argument("fingerprint")
    a.add_argument("--by", required=True, help="who acknowledges")
    a.add_argument("--comment", required=True)
    a = asub.add_parser("silence", help="silence alerts matching labels for a duration")
    a.add_argument("--match", type=matcher_argument, action="append", required=True,
                   help="NAME=VALUE, NAME!=VALUE, NAME=~REGEX, NAME!~REGEX (repeatable)")
    a.add_argument("--for", dest="duration", type=parse_duration, required=True,
                   help="how long, e.g. 30m, 2h")
    a.add_argument("--by", required=True, help="who silences")
    a.add_argument("--comment", required=True)
    a = asub.add_parser("expire", help="end a silence now")
    a.add_argument("id", type=int)
    a.add_argument("--by", required=True)
    a = asub.add_parser("silences", help="active and future silences")
    a.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.alerts.cli import cmd_alerts

    with database(settings, create=False) as settings:
        return cmd_alerts(args, settings)
