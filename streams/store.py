"""Storing one batch whatever the database says: retry outages, isolate events it refuses.

A write fails for one of two kinds of reason:
- the database is unavailable or busy (connection lost, admin shutdown, too many
  connections, serialization failure, deadlock, a role that may not log in, a missing
  privilege or table while an operator fixes things): the same batch will succeed later.
  We retry it with capped exponential backoff, forever: dropping it would lose data, and
  the offsets stay uncommitted so a restart would redeliver it anyway. The worker's stall
  detector reports the lack of progress meanwhile (/healthz, ioc_worker_stalled).
- the database refuses an event's content (`DataError`, class 22: a value out of range;
  `IntegrityError`, class 23: a CHECK or NOT NULL the contract did not catch). Retrying
  would stall the partition forever, so the batch is bisected: halves are written in their
  own transactions until each refused event is alone; those become dead letters with the
  database's error as the reason, the rest is stored. Duplicates are harmless, so the halves
  written before a crash are simply no-ops when the batch is redelivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import psycopg

from ioc import contract
from ioc.errors import ServiceError
from streams.sink import REFUSED_BY_DATABASE, DeadLetter, EventSink, Origin, WriteResult

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid event and the Kafka record it came from (kept to dead-letter it if refused)."""

    event: contract.Envelope
    topic: str
    partition: int
    offset: int
    raw: bytes
    origin: Origin | None = None  # None: not counted in the sources' health


@dataclass
class StoreOutcome:
    """The result of storing a batch: new rows, dead letters newly recorded, retries needed."""

    stored: int = 0
    new_dead: list[DeadLetter] = field(default_factory=list)
    refused: list[DeadLetter] = field(default_factory=list)  # events the database refused
    failed_attempts: int = 0


def is_refused_content(exc: BaseException) -> bool:
    """True when the database refused the data itself (retrying the same rows cannot help)."""
    return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)


def describe(exc: BaseException) -> str:
    """The first line of an error, with its SQLSTATE when the database gave one."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    code = getattr(exc, "sqlstate", None)
    return f"{code} {first}" if code else first


def _origins(items: Sequence[Decoded]) -> list[Origin] | None:
    """Each item's origin, or None when any is unknown (then the batch is not counted)."""
    origins = [i.origin for i in items]
    return None if any(o is None for o in origins) else origins  # type: ignore[return-value]


class BatchStore:
    """Writes batches through an `EventSink`, retrying outages and isolating refused events.

    `sleep` and `on_retry` are passed in so tests and metrics see every retry.
    """

    def __init__(self, sink: EventSink, feed: str, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_retry: Callable[[BaseException, float], None] | None = None):
        self.sink = sink
        self.feed = feed
        self._sleep = sleep
        self._on_retry = on_retry

    async def store(self, items: Sequence[Decoded], dead: Sequence[DeadLetter]) -> StoreOutcome:
        """Store `items` and record `dead`; return only once all of it is durable."""
        outcome = StoreOutcome()
        try:
            result = await self._write_retrying([i.event for i in items], dead, outcome,
                                                _origins(items))
        except _Refused:
            await self._bisect(list(items), outcome)
            result = await self._write_retrying([], list(dead) + outcome.refused, outcome)
        outcome.stored += result.stored
        outcome.new_dead.extend(result.new_dead)
        return outcome

    async def _bisect(self, items: list[Decoded], outcome: StoreOutcome) -> None:
        if not items:
            return
        try:
            result = await self._write_retrying([i.event for i in items], (), outcome,
                                                _origins(items))
        except _Refused as refused:
            if len(items) == 1:
                item = items[0]
                outcome.refused.append(DeadLetter(
                    item.topic, item.partition, item.offset, self.feed,
                    f"{REFUSED_BY_DATABASE}: {describe(refused.error)}", item.raw, item.origin))
                return
            middle = len(items) // 2
            await self._bisect(items[:middle], outcome)
            await self._bisect(items[middle:], outcome)
            return
        outcome.stored += result.stored

    async def _write_retrying(self, events: Sequence[contract.Envelope],
                              dead: Sequence[DeadLetter], outcome: StoreOutcome,
                              origins: Sequence[Origin] | None = None) -> WriteResult:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                return await self.sink.write(events, dead, origins)
            except (psycopg.Error, ServiceError, OSError) as exc:
                if is_refused_content(exc):
                    raise _Refused(exc) from None
                error = exc
            outcome.failed_attempts += 1
            if self._on_retry is not None:
                self._on_retry(error, delay)
            log.warning("%s: database write failed (%s); retrying in %.1f s",
                        self.feed, describe(error), delay)
            await self._sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


class _Refused(Exception):
    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error
