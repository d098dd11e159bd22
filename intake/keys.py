"""Which source a key belongs to, as the intake's role may ask (`intake_source_by_key`),
remembered a few seconds so a busy source costs one lookup per few seconds, not one per
request. A revoked or rotated key stops working within that time."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from intake.ledger import Connections, DatabaseUnavailable
from ioc.errors import ServiceError
from ioc.sources import GRANT_QUERY, Grant, grant_from, key_hash

REMEMBER_SECONDS = 5.0
MAX_REMEMBERED = 10_000  # keys seen (unknown ones too): a flood of made-up keys stays small


class KeyRing:
    def __init__(self, connections: Connections, clock: Callable[[], float] = time.monotonic,
                 remember: float = REMEMBER_SECONDS):
        self.connections, self.clock, self.remember = connections, clock, remember
        self._known: dict[str, tuple[float, Grant | None]] = {}

    async def grant(self, key: str) -> Grant | None:
        """The grant of a live key; None for an unknown or revoked one."""
        wanted = key_hash(key)  # the key itself is kept nowhere, not even here
        now = self.clock()
        known = self._known.get(wanted)
        if known is not None and now - known[0] < self.remember:
            return known[1]
        try:
            async with self.connections.connection() as conn:
                row = await (await conn.execute(GRANT_QUERY, (wanted,))).fetchone()
        except (psycopg.OperationalError, ServiceError) as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from None
        grant = grant_from(row, wanted)
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[wanted] = (now, grant)
        return grant
