"""`ioc schemas`: the event contract exported as JSON Schema files, one per event type."""

from __future__ import annotations

import argparse
from pathlib import Path

from ioc.settings import Settings

HELP = "export the event contract as JSON Schema files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("docs/schemas"),
                   help="output folder (default docs/schemas under the current folder: "
                        "the tracked copy when run in the checkout)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.contract import write_json_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    names = write_json_schemas(args.out)
    print(f"wrote {len(names)} JSON Schema files to {args.out}")
    return 0
