"""Runs a simulation on a simulated clock and hands each batch to its emitters
(the Kafka producer, a recording, or both).

`speed` is simulated seconds per wall second: 1 is real time, 60 a minute a second,
None as fast as possible (`--speed max`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from simulators.generator import ProvinceSimulator, Record

log = logging.getLogger(__name__)

MAX_SPEED_STEP = 60.0


class Emitter(Protocol):
    def send(self, records: list[Record]) -> int: ...


def run_simulation(
    simulator: ProvinceSimulator,
    emitters: Sequence[Emitter],
    stop: threading.Event,
    start: float,
    duration: float | None,
    speed: float | None = 1.0,
    tick_seconds: float = 1.0,
    monotonic: Callable[[], float] = time.monotonic,
    progress: Callable[[float, int], None] | None = None,
    started: bool = False,
) -> int:
    """Simulate from Unix time `start` for `duration` simulated seconds (None: until `stop`);
    `started`: the simulator already stands at `start` (after a backfill), go on from there."""
    if speed is None and duration is None:
        raise ValueError("--speed max needs a --duration")
    end = None if duration is None else start + duration
    wall0 = monotonic()
    if not started:
        simulator.start(start)
    sim_now = start
    total = 0
    while not stop.is_set() and (end is None or sim_now < end):
        if speed is None:
            target = sim_now + MAX_SPEED_STEP
        else:
            stop.wait(tick_seconds)
            target = start + (monotonic() - wall0) * speed
        if end is not None:
            target = min(target, end)
        records = simulator.records_until(target)
        for emitter in emitters:
            emitter.send(records)
        total += len(records)
        sim_now = target
        if progress:
            progress(sim_now, total)
    log.info("simulation sent %d events in %.0f simulated seconds", total, sim_now - start)
    return total
