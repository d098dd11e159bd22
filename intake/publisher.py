"""The intake's Kafka producer: idempotent, `acks=all`, and a request's events are
acknowledged by the broker (every in-sync copy) before the request is answered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaException, Producer

from ioc.contract import FEEDS, Envelope
from ioc.errors import ServiceError
from ioc.settings import Settings
from ioc.source_health import SOURCE_HEADER


class BrokerUnavailable(ServiceError):
    """The broker did not acknowledge every event of a request in time: none is accepted."""


def partition_key(event: Envelope) -> bytes:
    """The key the simulator gives the same entity, so an entity's events keep their order:
    the link, the dossier, the portal, else the first unit."""
    data = event.data  # type: ignore[attr-defined]
    for name in ("link_id", "dossier_id", "portal_code"):
        code = getattr(data, name, None)
        if code is not None:
            return code.encode()
    return event.unit_codes[0].encode()


class _Batch:
    """The deliveries of one request, counted in the producer's poll thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int):
        self.loop, self.left, self.error = loop, count, None
        self.done = loop.create_future()
        self._lock = threading.Lock()  # the request's thread counts the never-queued ones

    def delivered(self, err, msg) -> None:  # noqa: ANN001 - librdkafka's callback
        with self._lock:
            if err is not None and self.error is None:
                self.error = str(err)
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(self.error)


class Publisher:
    """Sends events to their feed topics and waits for the broker's acknowledgement."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.timeout = settings.intake_delivery_seconds
        self._topics = {feed: settings.topic(feed) for feed in FEEDS}
        self._producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # a retry inside the producer writes nothing twice
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            # a message the broker has not acknowledged by then fails, and so does the request
            "message.timeout.ms": int(self.timeout * 1000),
            "log.connection.close": False,
        })
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="intake-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    async def publish(self, source: str, events: Sequence[tuple[Envelope, bytes]]) -> None:
        """Send (event, its bytes as received) to Kafka; return once every one is
        acknowledged, else raise `BrokerUnavailable` (some may have been written: the
        client sends them again, and the database keeps one row per event id)."""
        if not events:
            return
        batch = _Batch(asyncio.get_running_loop(), len(events))
        headers = [(SOURCE_HEADER, source.encode())]
        produce = self._producer.produce
        for i, (event, raw) in enumerate(events):
            try:
                produce(self._topics[event.feed], raw, partition_key(event),  # type: ignore[attr-defined]
                        on_delivery=batch.delivered, headers=headers)
            except (BufferError, KafkaException) as exc:
                # the ones already queued still report; those never queued count as failed
                for _ in range(len(events) - i):
                    batch.delivered(str(exc), None)
                break
        try:
            error = await asyncio.wait_for(batch.done, self.timeout + 5)
        except TimeoutError:
            error = f"no acknowledgement within {self.timeout + 5:g} s"
        if error is not None:
            raise BrokerUnavailable(f"the broker did not take the events: {error}")

    def close(self) -> None:
        self._running = False
        self._producer.flush(self.timeout)
        self._poller.join(1)
