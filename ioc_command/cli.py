"""The `ioc` command: one entry point for every part of the IOC. Each subcommand is a module
of `ioc_command/commands/` (its parser and what it runs); this module assembles them, reads
the settings once and turns the project's errors into one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ioc.errors import IocError
from ioc.settings import Settings
from ioc_command.commands import COMMANDS, command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Intelligent Operations Center streaming monitor: a province's digital "
                    "public services, live on the control-room wall.",
        epilog="Settings come from IOC_* environment variables: `ioc settings` lists them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = command(name)
        p = sub.add_parser(name, help=module.HELP,
                           description=getattr(module, "DESCRIPTION", None))
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ioc.services.postgres import with_secrets

        settings = with_secrets(Settings.from_env())  # the embedded database's passwords
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # kafka-python narrates every connection at INFO
        logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(
            settings.log_level)))
        return args.func(args, settings)
    except IocError as exc:
        print(f"ioc {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
