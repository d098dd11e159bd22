"""The wall's one narrow writable path: a separate connection as ioc_operator that may only
call the SECURITY DEFINER functions (acknowledge, silence, expire, wall heartbeats, the login
hash lookup). Everything the wall reads goes through ioc_reader instead (data.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from ioc.db import OPERATOR_ROLE, connect, role_url
from ioc.errors import ServiceError
from ioc.settings import Settings

log = logging.getLogger(__name__)


class ActionError(Exception):
    """An operator action the database refused, with its reason for the person at the wall."""


@dataclass
class Operator:
    """Calls the operator functions, one statement at a time, on one reused connection."""

    connect: Callable[[], psycopg.Connection]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection | None = None

    @classmethod
    def from_settings(cls, settings: Settings, replay: bool = False) -> Operator:
        assert settings.database_url, "the dashboard needs IOC_DATABASE_URL (ioc up sets it)"
        url = role_url(settings.database_url, OPERATOR_ROLE, settings.operator_password)
        schema = settings.for_replay().db_schema if replay else settings.db_schema
        return cls(lambda: connect(url, schema, autocommit=True, timeout=3,
                                   application_name="ioc-dashboard-operator"))

    def _call(self, query: str, params: tuple) -> list[tuple]:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.connect()
                cur = self._conn.execute(query, params)
                return cur.fetchall() if cur.description else []
            except psycopg.errors.RaiseException as exc:  # the function's own message
                raise ActionError(exc.diag.message_primary or str(exc)) from None
            except (psycopg.Error, ServiceError) as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise ActionError(str(exc).strip().splitlines()[0]) from None

    def acknowledge(self, fingerprint: str, actor: str, comment: str) -> None:
        self._call("SELECT alert_acknowledge(%s, %s, %s)", (fingerprint, actor, comment))

    def silence(self, matchers: list[dict[str, str]], starts_at: datetime, hours: float,
                actor: str, comment: str) -> int:
        rows = self._call("SELECT silence_create(%s::jsonb, %s, %s, %s, %s)",
                          (json.dumps(matchers), starts_at, starts_at + timedelta(hours=hours),
                           actor, comment))
        return int(rows[0][0])

    def expire(self, silence_id: int, actor: str) -> None:
        self._call("SELECT silence_expire(%s, %s)", (silence_id, actor))

    def password_hash(self, username: str) -> tuple[str, str] | None:
        """(display name, stored hash) of an enabled user, else None."""
        rows = self._call("SELECT * FROM wall_user_password_hash(%s)", (username,))
        return (rows[0][0], rows[0][1]) if rows else None

    def password_rehash(self, username: str, old_hash: str, new_hash: str) -> bool:
        """Replace the hash just verified at login with `new_hash` (same password, current
        parameters); False when it changed meanwhile or the user is disabled."""
        rows = self._call("SELECT wall_user_password_rehash(%s, %s, %s)",
                          (username, old_hash, new_hash))
        return bool(rows and rows[0][0])

    def session_start(self, username: str, token_hash: str, max_seconds: int,
                      client: str) -> bool:
        """A server-side session for an enabled user (audited); False if it cannot log in."""
        rows = self._call("SELECT wall_session_start(%s, %s, %s, %s)",
                          (username, token_hash, max_seconds, client))
        return bool(rows and rows[0][0])

    def session_user(self, token_hash: str, idle_seconds: int) -> str | None:
        """The user of a live session, or None (ended, idle, expired, user disabled)."""
        rows = self._call("SELECT username FROM wall_session_user(%s, %s)",
                          (token_hash, idle_seconds))
        return rows[0][0] if rows else None

    def session_end(self, token_hash: str) -> None:
        self._call("SELECT wall_session_end(%s)", (token_hash,))

    def login_refused(self, username: str, client: str, reason: str) -> None:
        self._call("SELECT wall_login_refused(%s, %s, %s)", (username, client, reason))

    def heartbeats(self, beats: list[tuple[str, str, bool, datetime]]) -> None:
        for beat in beats:
            self._call("SELECT wall_heartbeat(%s, %s, %s, %s)", beat)


@dataclass
class HeartbeatBook:
    """Collects every open wall's heartbeat in memory and writes them all at most once per
    `every` seconds, so 20 walls cost the database one short burst, not 20 writes a tick."""

    every: float = 30.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, tuple[str, str, bool, datetime]] = field(default_factory=dict)
    _flushed: float = -1e9

    def beat(self, wall_id: str, page: str, kiosk: bool, at: datetime) -> None:
        with self._lock:
            self._pending[wall_id] = (wall_id, page, kiosk, at)

    def flush_if_due(self, operator: Operator | None, force: bool = False) -> int:
        """Write pending heartbeats when due; keep them for next time if the write fails."""
        if operator is None:
            return 0
        with self._lock:
            if not force and time.monotonic() - self._flushed < self.every:
                return 0
            beats, self._pending = list(self._pending.values()), {}
            self._flushed = time.monotonic()
        try:
            operator.heartbeats(beats)
        except ActionError as exc:
            log.warning("could not record wall heartbeats: %s", exc)
            with self._lock:
                for b in beats:
                    self._pending.setdefault(b[0], b)
            return 0
        return len(beats)
