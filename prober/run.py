"""The prober's loop: every IOC_PROBE_SECONDS each target probed once (all at the same
time), its window updated, and its heartbeat sent to the telemedicine topic with the header
`ioc-source: prober` (the same contract as a hospital's own heartbeats)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from confluent_kafka import Producer

from ioc import contract
from ioc.settings import Settings
from ioc.source_health import SOURCE_HEADER
from prober.checks import round_trip
from prober.targets import Target
from prober.window import LinkWindow

log = logging.getLogger(__name__)

SOURCE = "prober"


def heartbeat(target: Target, window: LinkWindow, at: datetime) -> contract.LinkHeartbeat:
    f = window.figures()
    return contract.LinkHeartbeat(
        event_id=contract.new_event_id(), schema_version=1, occurred_at=at,
        unit_codes=[target.unit_code], feed="telemedicine", event_type="link.heartbeat",
        data=contract.LinkHeartbeatData(
            link_id=target.link_id, hospital_code=target.hospital_code,
            hub_code=target.hub_code, status=f.status, latency_ms=f.latency_ms,
            jitter_ms=f.jitter_ms, loss_pct=f.loss_pct))


class Prober:
    """Probes `targets` and hands their heartbeats to `send`."""

    def __init__(self, settings: Settings, targets: Sequence[Target],
                 send: Callable[[list[contract.LinkHeartbeat]], None],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.timeout = settings.probe_timeout_seconds
        self.every = settings.probe_seconds
        self.targets, self.send, self.clock = list(targets), send, clock
        self.windows = {t.link_id: LinkWindow() for t in self.targets}

    async def round(self) -> list[contract.LinkHeartbeat]:
        """Probe every target once; their heartbeats, sent."""
        took = await asyncio.gather(*(round_trip(t.endpoint, self.timeout)
                                      for t in self.targets))
        at = self.clock()
        beats = []
        for target, seconds in zip(self.targets, took, strict=True):
            self.windows[target.link_id].add(seconds)
            beats.append(heartbeat(target, self.windows[target.link_id], at))
        self.send(beats)
        return beats

    async def run(self, stop: threading.Event, rounds: int | None = None) -> int:
        """Probe every IOC_PROBE_SECONDS until `stop` (or `rounds` rounds); rounds done."""
        done = 0
        loop = asyncio.get_running_loop()
        while not stop.is_set() and (rounds is None or done < rounds):
            began = loop.time()
            await self.round()
            done += 1
            if rounds is not None and done >= rounds:
                break
            await asyncio.sleep(max(0.0, self.every - (loop.time() - began)))
        return done


class KafkaSender:
    """Heartbeats to the telemedicine topic, keyed by link, with the prober as their source."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.topic = settings.topic("telemedicine")
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                   "acks": "all", "log.connection.close": False})
        self.failed = 0

    def _delivered(self, err, msg) -> None:  # noqa: ANN001 - librdkafka's callback
        if err is not None:
            self.failed += 1
            log.warning("a heartbeat was not sent: %s", err)

    def __call__(self, beats: list[contract.LinkHeartbeat]) -> None:
        for beat in beats:
            self._producer.produce(self.topic, contract.encode(beat),
                                   beat.data.link_id.encode(),
                                   headers=[(SOURCE_HEADER, SOURCE.encode())],
                                   on_delivery=self._delivered)
        # a heartbeat that cannot go now is superseded by the next one: never wait long
        self._producer.flush(5)
