"""Sends simulated events to Kafka (confluent-kafka: the fastest producer measured here)."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer

from ioc.contract import FEEDS
from ioc.errors import ServiceError
from ioc.settings import Settings
from ioc.source_health import SOURCE_HEADER
from simulators.generator import Record


class FeedProducer:
    """Sends records to their feed topics (`<prefix>.<feed>`), keyed by entity."""

    def __init__(self, settings: Settings, bootstrap: str, source: str = "simulator"):
        self.settings = settings
        # who sent the events, for the sources' health (`ioc-source`: the simulator, a replay)
        self._headers = [(SOURCE_HEADER, source.encode())]
        self._topics = {feed: settings.topic(feed) for feed in FEEDS}
        self._errors: list[str] = []
        self._producer = Producer({
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "compression.type": "lz4",
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
            "enable.idempotence": False,
            "acks": "all",
            # a Python callback per message costs more than producing it: report failures only
            "delivery.report.only.error": True,
            "on_delivery": self._delivered,
            "log.connection.close": False,  # the broker closing idle connections is normal
        })
        self.sent = 0

    def _delivered(self, err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            self._errors.append(str(err))

    def send(self, records: Iterable[Record]) -> int:
        produce, topics, headers = self._producer.produce, self._topics, self._headers
        n = 0
        for r in records:
            while True:
                try:
                    produce(topics[r.feed], r.value, r.key, headers=headers)
                    break
                except BufferError:  # local queue full: let librdkafka drain it
                    self._producer.poll(0.05)
                except KafkaException as exc:
                    raise ServiceError(f"cannot send to {topics[r.feed]}: {exc}") from None
            n += 1
        self.sent += n
        self._producer.poll(0)
        return n

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """One message to any topic (tests use it for hand-made bad input)."""
        self._producer.produce(topic, value=value, key=key)
        self.sent += 1

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until everything sent is acknowledged by the broker; raise on failures."""
        left = self._producer.flush(timeout)
        if left:
            raise ServiceError(f"{left} events were not acknowledged by the broker in {timeout} s")
        if self._errors:
            first, count = self._errors[0], len(self._errors)
            self._errors.clear()
            raise ServiceError(f"{count} events failed to send; first error: {first}")
