"""`ioc dashboard`: the wall (Dash) on IOC_DASHBOARD_PORT."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "serve the wall (Dash) on IOC_DASHBOARD_PORT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options: the wall takes its settings from IOC_*."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc_dashboard.app import serve

    serve(settings)
    return 0
