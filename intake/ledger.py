"""The event ids the intake has accepted (table `intake_accepted`, migration 046), and the
few database connections the intake holds to keep them and to look keys up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import psycopg

from ioc.db import connect_async
from ioc.errors import ServiceError
from ioc.source_health import SourceTally, record
from ioc.source_health import prune as prune_minutes


class DatabaseUnavailable(ServiceError):
    """The database did not answer: nothing of the request was accepted."""


class Connections:
    """At most `size` connections of the intake's role, opened when first needed; one that
    failed is dropped and the next request opens another (the database may come back)."""

    def __init__(self, url: str, schema: str, size: int = 8):
        self.url, self.schema = url, schema
        self._idle: list[psycopg.AsyncConnection] = []
        self._slots = asyncio.Semaphore(size)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else await connect_async(
                self.url, self.schema, autocommit=True, application_name="ioc-intake")
            try:
                yield conn
            except BaseException:
                await conn.close()  # its state is unknown: never hand it out again
                raise
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                await conn.close()
            else:
                self._idle.append(conn)

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


class Ledger:
    """Claims the ids of a request's events: those accepted before are duplicates; the new
    ones are kept only if the block that sends them ends without an error."""

    def __init__(self, connections: Connections):
        self.connections = connections

    @asynccontextmanager
    async def claim(self, source: str, events: Sequence[tuple[str, datetime]]
                    ) -> AsyncIterator[set[str]]:
        """Yield the ids of `events` (id, occurred_at) not accepted before. A request that
        sends one of them at the same time waits here until this block ends; then it is a
        duplicate if this block succeeded."""
        try:
            async with self.connections.connection() as conn, conn.transaction():
                rows = await (await conn.execute(
                    "INSERT INTO intake_accepted (event_id, source, occurred_at)"
                    " SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[])"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    ([e for e, _ in events], [source] * len(events),
                     [t for _, t in events]))).fetchall()
                yield {e for (e,) in rows}
        except (psycopg.OperationalError, ServiceError) as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from None

    async def count(self, tally: SourceTally) -> None:
        """Add a request's refusals to its source's health (`source_minutes`)."""
        async with self.connections.connection() as conn:
            await record(conn, tally)

    async def prune_minutes(self, before: datetime) -> int:
        """Forget the sources' health minutes before `before`; how many."""
        async with self.connections.connection() as conn:
            return await prune_minutes(conn, before)

    async def prune(self, before: datetime, batch: int = 20_000) -> int:
        """Forget the ids of events that occurred before `before` (the live limit: such an
        event is refused as too old anyway), in batches; how many."""
        total = 0
        async with self.connections.connection() as conn:
            while True:
                n = (await conn.execute(
                    "DELETE FROM intake_accepted WHERE event_id = ANY (ARRAY(SELECT event_id"
                    " FROM intake_accepted WHERE occurred_at < %s LIMIT %s))",
                    (before, batch))).rowcount
                total += n
                if n < batch:
                    return total
