"""The live simulator: sends what the province's systems would send, as time passes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from simulators.generator import ProvinceSimulator
from simulators.producer import FeedProducer

log = logging.getLogger(__name__)


def run_live(
    simulator: ProvinceSimulator,
    producer: FeedProducer,
    stop: threading.Event,
    duration: float | None = None,
    tick_seconds: float = 1.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Send events in real time until `stop` is set or `duration` seconds pass; return the count."""
    started = last = clock()
    total = 0
    while not stop.is_set():
        now = clock()
        if duration is not None and (now - started).total_seconds() >= duration:
            break
        total += producer.send(simulator.events_between(last, now))
        last = now
        stop.wait(tick_seconds)
    total += producer.send(simulator.events_between(last, clock()))
    producer.flush()
    log.info("live simulator sent %d events", total)
    return total
