"""Sources of events from outside the IOC, and their keys (issue 41).

A source is a system of the province that sends events over HTTP (`ioc intake`): the
one-stop information system, a payment gateway, a hospital. Each has a name, the feeds it
may send and, when given, the entity codes it may name (a hospital's key: its own links), and
one key. A key is 256 random bits, shown once when it is made (`ioc sources add` prints it
on its last line) and stored only as its SHA-256: a slow password hash buys nothing for a
secret nobody can guess, and the intake must look a key up at every request. The intake
reads a key's source through `intake_source_by_key()` (migration 045), never the table;
adding, rotating and revoking are audited in `audit_log`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ioc.contract import FEEDS
from ioc.errors import IocError
from ioc.province import Province

KEY_PREFIX = "ioc_"  # a key names itself: easy to find when leaked in a log or a repository
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class SourceError(IocError):
    """A source that cannot be added, changed or found as asked."""


@dataclass(frozen=True)
class Source:
    """One source as `ioc sources list` shows it (never its key)."""

    name: str
    feeds: tuple[str, ...]
    codes: tuple[str, ...]  # empty: any of the province's codes
    key_prefix: str  # the key's first characters, to tell keys apart
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def province_codes(province: Province) -> frozenset[str]:
    """Every entity code of the province a source may be limited to."""
    return frozenset(
        [u.code for u in province.units] + [h.code for h in province.hospitals]
        + [h.link_id for h in province.hospitals] + [p.code for p in province.portals]
        + [a.code for a in province.agencies] + [province.service_centre.code])


def checked(name: str, feeds: Iterable[str], codes: Iterable[str],
            province: Province) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """`name`, `feeds` and `codes` checked against their domains, each error naming what to
    change."""
    if not NAME.match(name):
        raise SourceError(f"source name {name!r}: 1 to 64 of a-z, 0-9, '.', '_', '-', "
                          "starting with a letter or digit")
    feeds = tuple(dict.fromkeys(f.strip() for f in feeds if f.strip()))
    wrong = [f for f in feeds if f not in FEEDS]
    if not feeds or wrong:
        raise SourceError(f"--feeds {','.join(feeds) or '(none)'}: give one or more of "
                          f"{', '.join(FEEDS)}")
    codes = tuple(dict.fromkeys(c.strip() for c in codes if c.strip()))
    unknown = sorted(set(codes) - province_codes(province))
    if unknown:
        raise SourceError(f"--codes: {', '.join(unknown)} not among "
                          f"{province.province.name_vi}'s units, hospitals, links, portals, "
                          "agencies or service centre")
    return name, feeds, codes


def _audit(conn: psycopg.Connection, actor: str, action: str, name: str,
           detail: dict) -> None:
    conn.execute("INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s,"
                 " %s::jsonb)", (actor, action, f"source:{name}", json.dumps(detail)))


def add(conn: psycopg.Connection, name: str, feeds: tuple[str, ...],
        codes: tuple[str, ...], actor: str) -> str:
    """Make source `name` (as `checked` gave it); its new key, shown once."""
    key = new_key()
    with conn.transaction():
        try:
            conn.execute("INSERT INTO intake_sources (name, feeds, codes, key_hash, key_prefix)"
                         " VALUES (%s, %s, %s, %s, %s)",
                         (name, list(feeds), list(codes), key_hash(key), key[:8]))
        except psycopg.errors.UniqueViolation:
            raise SourceError(f"a source named {name!r} exists: `ioc sources rotate {name}` "
                              "gives it a new key") from None
        _audit(conn, actor, "source_add", name, {"feeds": feeds, "codes": codes,
                                                 "key_prefix": key[:8]})
    return key


def rotate(conn: psycopg.Connection, name: str, actor: str) -> str:
    """A new key for source `name`; the old one stops working at once (a revoked source is
    enabled again). The new key, shown once."""
    key = new_key()
    with conn.transaction():
        done = conn.execute("UPDATE intake_sources SET key_hash = %s, key_prefix = %s,"
                            " rotated_at = now(), revoked_at = NULL WHERE name = %s",
                            (key_hash(key), key[:8], name)).rowcount
        if not done:
            raise SourceError(f"no source named {name!r} (`ioc sources list`)")
        _audit(conn, actor, "source_rotate", name, {"key_prefix": key[:8]})
    return key


def renewed(conn: psycopg.Connection, name: str, feeds: tuple[str, ...], actor: str) -> str:
    """A new key for source `name`, made with `feeds` the first time (the IOC's own sources:
    the simulator sending through the intake takes a new key at each start)."""
    try:
        return rotate(conn, name, actor)
    except SourceError:
        return add(conn, name, feeds, (), actor)


def revoke(conn: psycopg.Connection, name: str, actor: str) -> None:
    """Source `name`'s key stops working at once (`rotate` gives it a new one)."""
    with conn.transaction():
        done = conn.execute("UPDATE intake_sources SET revoked_at = coalesce(revoked_at, now())"
                            " WHERE name = %s", (name,)).rowcount
        if not done:
            raise SourceError(f"no source named {name!r} (`ioc sources list`)")
        _audit(conn, actor, "source_revoke", name, {})


def listed(conn: psycopg.Connection) -> list[Source]:
    return [Source(name, tuple(feeds), tuple(codes), prefix, created, rotated, revoked)
            for name, feeds, codes, prefix, created, rotated, revoked in conn.execute(
                "SELECT name, feeds, codes, key_prefix, created_at, rotated_at, revoked_at"
                " FROM intake_sources ORDER BY name")]


@dataclass(frozen=True)
class Grant:
    """What a key may send: its source's name, feeds and codes (empty: any)."""

    source: str
    feeds: frozenset[str]
    codes: frozenset[str]


# how the intake's role reads a key's source (its only way), and whether any key is live
GRANT_QUERY = "SELECT name, feeds, codes, key_hash FROM intake_source_by_key(%s)"
LIVE_QUERY = "SELECT intake_sources_live()"


def grant_from(row: tuple | None, wanted: str) -> Grant | None:
    """The grant in a row of GRANT_QUERY asked for hash `wanted` (compared in constant time)."""
    if row is None or not hmac.compare_digest(row[3], wanted):
        return None
    return Grant(row[0], frozenset(row[1]), frozenset(row[2]))


def grant_of(conn: psycopg.Connection, key: str) -> Grant | None:
    """The grant of a live key, None for an unknown or revoked one (as the intake asks:
    through `intake_source_by_key`, the only way its role can read a source)."""
    wanted = key_hash(key)
    return grant_from(conn.execute(GRANT_QUERY, (wanted,)).fetchone(), wanted)
