"""`ioc soak`: steady load for a while, or `ioc up` itself left on (proof/soak.py)."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "steady load at 10x the province for a while: worker RSS and lag"
DESCRIPTION = ("A real worker under the simulator at --multiplier times the province's "
               "rates, in real time; samples RSS and consumer lag; exit code 1 when RSS "
               "grows over 10 percent after the warm-up or the lag is unbounded. --up: "
               "`ioc up` itself instead, its embedded Tansu renewed at --max-events; exit "
               "code 1 when it is not renewed, holds far more, grows from one renewal to "
               "the next or stops storing (docs/reliability.md).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from proof.soak import add_arguments as add_soak_arguments

    add_soak_arguments(p)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from proof.soak import run as run_soak

    return run_soak(args, settings)
