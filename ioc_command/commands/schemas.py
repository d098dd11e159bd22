"""`ioc schemas`: the event contract exported as JSON Schema files, one per event type, and
the HTTP intake's OpenAPI document."""

from __future__ import annotations

import argparse
from pathlib import Path

from ioc.settings import Settings

HELP = "export the event contract as JSON Schema files, and the intake's OpenAPI document"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("docs/schemas"),
                   help="output folder (default docs/schemas under the current folder: "
                        "the tracked copy when run in the checkout)")
    p.add_argument("--openapi", type=Path, default=Path("docs/intake.openapi.json"),
                   help="where the HTTP intake's OpenAPI document goes (default "
                        "docs/intake.openapi.json under the current folder)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from intake.app import document
    from ioc.contract import write_json_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    names = write_json_schemas(args.out)
    print(f"wrote {len(names)} JSON Schema files to {args.out}")
    args.openapi.parent.mkdir(parents=True, exist_ok=True)
    args.openapi.write_text(json.dumps(document(), indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    print(f"wrote the intake's OpenAPI document to {args.openapi}")
    return 0
