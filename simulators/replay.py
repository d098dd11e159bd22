"""`ioc replay`: re-send a recording in its order, paced by its send times.

Order is the recording's order, so every key keeps its order on its partition. With a
`shift` (`rebase_shift`), every time in the events moves by the same amount so the recorded
period ends as the replay does: a recorded incident replayed as if it were happening now,
and no event ever in the future when it is sent (the contract refuses those).
Replays go to the replay namespace (`Settings.for_replay()`); `ReplayRuns` keeps the
run's progress in that schema's `replay_runs` table for the wall.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from simulators.generator import Record
from simulators.run import Emitter

log = logging.getLogger(__name__)

_TIME_FIELDS = ("due_at",)
# tables that describe the replay itself, not replayed data
_KEEP_TABLES = {"replay_runs", "schema_migrations"}
# The alert engine evaluates every replay run from its first event, so its history of the
# previous run goes whatever `--keep` says (the engine's role may not delete history).
ALERT_TABLES = ("alert_transitions", "alerts", "alert_engine_state", "notification_outbox",
                "notification_groups")


def rebase(record: Record, shift: float) -> Record:
    """The record with its times and every time inside its value moved by `shift` seconds."""
    moved = record._replace(event_time=record.event_time + shift,
                            sent_at=None if record.sent_at is None else record.sent_at + shift)
    try:
        body = json.loads(record.value)
        delta = timedelta(seconds=shift)
        body["occurred_at"] = (datetime.fromisoformat(body["occurred_at"]) + delta).isoformat()
        for name in _TIME_FIELDS:
            if name in body.get("data", {}):
                body["data"][name] = (datetime.fromisoformat(body["data"][name])
                                      + delta).isoformat()
    except (ValueError, TypeError, KeyError, AttributeError):
        return moved  # malformed input is replayed as it was recorded
    return moved._replace(value=json.dumps(body, separators=(",", ":"),
                                           ensure_ascii=False).encode())


def rebase_shift(first_send: float, last_send: float, now: float, speed: float | None) -> float:
    """Seconds to add to every time of a replay starting at `now`, so no event is in the future
    when it is sent and the recorded period ends as late as that allows.

    At speed 1 the first event happens now and each one at its send moment; faster (or at
    max speed) the last event is the replay's end; slower, the first event happens now (the
    period then ends before the replay does, since event time runs slower than the clock).
    """
    span = last_send - first_send
    return now + (span * min(1.0, 1.0 / speed) if speed else 0.0) - last_send


def replay(
    records: Iterable[Record],
    emitter: Emitter,
    stop: threading.Event,
    speed: float | None,
    shift: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    batch_size: int = 5000,
    progress: Callable[[int, float, float], None] | None = None,
) -> int:
    """Send `records`; return how many. `speed` None sends as fast as possible.

    `progress(sent, first_event_time, last_event_time)` is called after every batch sent.
    """
    first: float | None = None
    first_event = 0.0
    wall0 = monotonic()
    batch: list[Record] = []
    sent = 0

    def flush() -> None:
        nonlocal sent, batch
        if batch:
            sent += emitter.send(batch)
            if progress:
                progress(sent, first_event, batch[-1].event_time)
            batch = []

    for record in records:
        if stop.is_set():
            break
        if first is None:
            first = record.send_time
            first_event = record.event_time + (shift or 0.0)
        if speed is not None:
            wait = wall0 + (record.send_time - first) / speed - monotonic()
            if wait > 0:
                flush()
                if stop.wait(wait):
                    break
        batch.append(rebase(record, shift) if shift is not None else record)
        if len(batch) >= batch_size:
            flush()
    flush()
    return sent


class ReplayRuns:
    """The `replay_runs` rows of one replay (owner connection to the replay schema)."""

    def __init__(self, conn: psycopg.Connection, every_seconds: float = 1.0):
        self.conn = conn
        self.run_id: int | None = None
        self._every = every_seconds
        self._next = 0.0

    def clear_replayed_data(self, events: bool = True) -> list[str]:
        """Empty the replay schema's tables so one replay never mixes with the last: the
        alert tables always, the events too unless `events` is False (`--keep`)."""
        tables = [r[0] for r in self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            if r[0] not in _KEEP_TABLES and (events or r[0] in ALERT_TABLES)]
        if tables:
            self.conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in sorted(tables))))
        self.conn.commit()
        return tables

    def begin(self, recording: str, seed: int | None, speed: float | None,
              rebased: bool) -> int:
        self.run_id = self.conn.execute(
            "INSERT INTO replay_runs (recording, seed, speed, rebased) VALUES (%s, %s, %s, %s) "
            "RETURNING run_id", (recording, seed, speed, rebased)).fetchone()[0]
        self.conn.commit()
        return self.run_id

    def progress(self, sent: int, first_event_time: float, last_event_time: float) -> None:
        """Record progress, at most once per `every_seconds` (the wall polls it)."""
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._every
        self._update(sent, first_event_time, last_event_time)

    def finish(self, sent: int, first_event_time: float | None,
               last_event_time: float | None) -> None:
        self._update(sent, first_event_time, last_event_time, finished=True)

    def _update(self, sent: int, first: float | None, last: float | None,
                finished: bool = False) -> None:
        self.conn.execute(
            "UPDATE replay_runs SET events_sent = %s, "
            "first_event_at = coalesce(first_event_at, to_timestamp(%s)), "
            "last_event_at = coalesce(to_timestamp(%s), last_event_at), "
            "finished_at = CASE WHEN %s THEN now() END WHERE run_id = %s",
            (sent, first, last, finished, self.run_id))
        self.conn.commit()
