"""`ioc replay`: re-send a recording in its order, paced by its event times.

Order is the recording's order, so every key keeps its order on its partition. With
`rebase_to`, every time in the events moves by the same amount so the first event
happens at `rebase_to` (a recorded incident replayed as if it were happening now).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from simulators.recording import Record
from simulators.run import Emitter

_TIME_FIELDS = ("due_at",)


def rebase(record: Record, shift: timedelta) -> Record:
    """The record with its event time and every time inside its value moved by `shift`."""
    body = json.loads(record.value)
    body["occurred_at"] = (datetime.fromisoformat(body["occurred_at"]) + shift).isoformat()
    for name in _TIME_FIELDS:
        if name in body.get("data", {}):
            body["data"][name] = (datetime.fromisoformat(body["data"][name]) + shift).isoformat()
    return replace(record, value=json.dumps(body, separators=(",", ":"),
                                           ensure_ascii=False).encode(),
                   event_time=record.event_time + shift)


def replay(
    records: Iterable[Record],
    emitter: Emitter,
    stop: threading.Event,
    speed: float | None,
    rebase_to: datetime | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    batch_size: int = 1000,
) -> int:
    """Send `records`; return how many. `speed` None sends as fast as possible."""
    first: datetime | None = None
    wall0 = monotonic()
    shift = timedelta(0)
    batch: list[Record] = []
    sent = 0
    for record in records:
        if stop.is_set():
            break
        if first is None:
            first = record.event_time
            shift = (rebase_to - first) if rebase_to else timedelta(0)
        if speed is not None:
            due = wall0 + (record.event_time - first).total_seconds() / speed
            wait = due - monotonic()
            if wait > 0:
                sent += emitter.send(batch)
                batch = []
                if stop.wait(wait):
                    break
        batch.append(rebase(record, shift) if rebase_to else record)
        if len(batch) >= batch_size:
            sent += emitter.send(batch)
            batch = []
    sent += emitter.send(batch)
    return sent
