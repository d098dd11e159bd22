"""`ioc settings`: every IOC_* setting with its default and what it is for."""

from __future__ import annotations

import argparse

from ioc.settings import Settings, describe

HELP = "list every IOC_* setting with its default"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    for name, default, doc in describe():
        print(f"{name:<32} {default or '(unset)':<28} {doc}")
    return 0
