"""What `ioc wall-user add|disable NAME` runs (its parser: ioc_command/commands/wall_user.py):
the operators who may log in to the wall to acknowledge and silence alerts. Passwords are
read from the terminal (or stdin) and stored only as scrypt hashes, by the owner role (the
wall itself can only look a hash up, never write one)."""

from __future__ import annotations

import argparse
import getpass
import sys

from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_wall_user(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.db import connect
    from ioc_dashboard.auth import hash_password

    db, _ = embedded_urls(settings)
    with connect(db, settings.db_schema, autocommit=True) as conn:
        if args.action == "add":
            try:
                stored = hash_password(_password(args))
            except ValueError as exc:
                raise SystemExit(str(exc)) from None
            conn.execute(
                "INSERT INTO wall_users (username, display_name, password_hash)"
                " VALUES (%s, %s, %s) ON CONFLICT (username) DO UPDATE"
                " SET display_name = EXCLUDED.display_name,"
                " password_hash = EXCLUDED.password_hash, disabled = false",
                (args.name, args.display_name or args.name, stored))
            print(f"wall user {args.name} can log in")
        else:
            done = conn.execute("UPDATE wall_users SET disabled = true WHERE username = %s",
                                (args.name,)).rowcount
            if not done:
                raise SystemExit(f"no wall user {args.name}")
            # its sessions end with it (a trigger, ioc/sql/common/035_wall_sessions.sql)
            print(f"wall user {args.name} disabled; its open sessions ended")
    return 0
