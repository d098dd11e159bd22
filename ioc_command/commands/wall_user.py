"""`ioc wall-user add|disable NAME`: the operators who may log in to the wall."""

from __future__ import annotations

import argparse

from ioc.settings import Settings
from ioc_command.services import database

HELP = "add or disable an operator who may log in to the wall"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "disable"))
    p.add_argument("name", help="user name (letters, digits, . _ @ -)")
    p.add_argument("--display-name", help="name shown on acknowledgements (default: the user name)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc_dashboard.users import cmd_wall_user

    with database(settings) as settings:  # a user can be added before the first ioc up
        return cmd_wall_user(args, settings)
