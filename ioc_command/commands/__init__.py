"""Every `ioc` subcommand, one module each, in the order `ioc --help` lists them.

A command module holds what argparse shows (`HELP`, and `DESCRIPTION` where the one line is
not enough), `add_arguments(parser)` and `run(args, settings) -> int` (the exit code). A new
command is a new module here, named in `COMMANDS`; its heavy imports stay inside `run`, so
`ioc --help` and every other command start quickly.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS: tuple[str, ...] = (
    "up", "worker", "dashboard", "intake", "simulate", "scenarios", "replay", "bench", "chaos",
    "soak", "migrate", "status", "backtest", "indicators", "schemas", "calendar", "units",
    "settings", "alerter", "notifier", "alerts", "wall-user", "sources", "probe",
)


def command(name: str) -> ModuleType:
    """The module of subcommand `name`."""
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
