"""`ioc calendar`: a year's days off and worked Saturdays, as the wall's usual day uses them."""

from __future__ import annotations

import argparse
import sys

from ioc.settings import Settings
from ioc_command.arguments import this_year

HELP = ("a year's days off and worked Saturdays "
        "(IOC_PENDING_HOLIDAYS decides the pending ones)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year", type=int, default=this_year(), help="default: this year")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.calendar import settings_calendar

    cal = settings_calendar(settings)
    days = sorted([(d, "off", name) for d, name in cal.holidays.items() if d.year == args.year]
                  + [(d, "worked", name) for d, name in cal.working_days.items()
                     if d.year == args.year])
    if not days:
        print(f"ioc calendar: no holidays listed for {args.year}", file=sys.stderr)
        return 1
    for day, kind, name in days:
        mark = "  (provisional)" if cal.is_provisional(day) else ""
        print(f"{day.isoformat()} {day:%a}  {kind:<6}  {name}{mark}")
    return 0
