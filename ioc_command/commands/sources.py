"""`ioc sources add|list|revoke|rotate`: the systems that may send events to `ioc intake`,
and their keys (ioc/sources.py)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import asdict

from ioc.settings import Settings
from ioc_command.services import database

HELP = "the systems that may send events over HTTP, and their keys (add, list, revoke, rotate)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="a new source; prints its key once, on the last line")
    a.add_argument("name", help="the source's name (a-z, 0-9, . _ -), e.g. motcua-thanhhoa")
    a.add_argument("--feeds", required=True, metavar="FEED,...",
                   help="the feeds it may send: portal, telemedicine, payments")
    a.add_argument("--codes", default="", metavar="CODE,...",
                   help="the only entity codes it may name (a hospital's: its own code and "
                        "link); default: any of the province's")
    a.add_argument("--by", help="who adds it, for the audit log (default: this user)")
    a = sub.add_parser("list", help="every source, its feeds and codes (never its key), and "
                                    "its last hour: events against a usual hour, refused and "
                                    "why, delay, troubles")
    a.add_argument("--json", action="store_true", help="print JSON")
    for action, what in (("revoke", "its key stops working at once"),
                         ("rotate", "a new key, printed once; the old one stops working")):
        a = sub.add_parser(action, help=what)
        a.add_argument("name")
        a.add_argument("--by", help="who does it, for the audit log (default: this user)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc import sources
    from ioc.db import connect
    from ioc.province import load_province
    from ioc.services.endpoints import embedded_urls

    actor = getattr(args, "by", None) or getpass.getuser()
    with database(settings) as here, connect(embedded_urls(here)[0], here.db_schema,
                                             autocommit=True) as conn:
        action = args.sources_command
        if action == "add":
            name, feeds, codes = sources.checked(
                args.name, args.feeds.split(","), args.codes.split(","),
                load_province(settings.province_file))
            key = sources.add(conn, name, feeds, codes, actor)
            print(f"source {name} may send {', '.join(feeds)}"
                  + (f" naming only {', '.join(codes)}" if codes else "")
                  + "; its key (shown once, keep it secret):")
            print(key)
        elif action == "rotate":
            key = sources.rotate(conn, args.name, actor)
            print(f"source {args.name} has a new key (the old one no longer works):")
            print(key)
        elif action == "revoke":
            sources.revoke(conn, args.name, actor)
            print(f"source {args.name}'s key no longer works (`ioc sources rotate "
                  f"{args.name}` gives it a new one)")
        else:
            _list(conn, args.json)
    return 0


def _list(conn, as_json: bool) -> None:  # noqa: ANN001 - a psycopg connection
    """Every source with a key, and every other seen lately (the prober, the simulator, a
    Kafka producer), each with its last hour beside its usual one."""
    from datetime import UTC, datetime

    from ioc import sources
    from ioc.source_health import health, troubles

    now = datetime.now(UTC)
    listed = {s.name: s for s in sources.listed(conn)}
    seen = {h.source: h for h in health(conn, now)}
    names = sorted(set(listed) | set(seen))
    if as_json:
        print(json.dumps([{
            **({**asdict(listed[n]), "active": listed[n].active} if n in listed
               else {"name": n, "key": None}),
            "health": {**asdict(seen[n]), "refused_share": round(seen[n].refused_share, 4),
                       "troubles": troubles(seen[n], now)} if n in seen else None}
            for n in names], ensure_ascii=False, indent=2, default=str))
        return
    for n in names:
        s, h = listed.get(n), seen.get(n)
        if s is None:
            key = "(no key: Kafka)"
        else:
            key = f"{','.join(s.feeds)} {s.key_prefix}… " + (
                "active" if s.active else f"revoked {s.revoked_at:%Y-%m-%d %H:%M}") + (
                f" codes {','.join(s.codes)}" if s.codes else "")
        print(f"{n:<24} {key}")
        if h is not None:
            last = f"{h.last_arrival:%Y-%m-%d %H:%M:%S}" if h.last_arrival else "not in 7 days"
            usual = f" (usual {h.usual_events:,.0f})" if h.usual_events is not None else ""
            why = ", ".join(f"{r} {c}" for r, c in h.main_reasons())
            delay = f", delay avg {h.delay_avg_ms / 1000:,.1f} s" if h.delay_avg_ms else ""
            trouble = troubles(h, now)
            print(f"{'':<24} last {last} UTC; last hour {h.events:,} events{usual}, "
                  f"{h.refused:,} refused ({h.refused_share:.1%}{': ' + why if why else ''})"
                  f"{delay}" + (f"  ⚠ {', '.join(trouble)}" if trouble else ""))
    if not names:
        print("(no sources: `ioc sources add NAME --feeds ...`)", file=sys.stderr)
