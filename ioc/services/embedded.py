"""The embedded broker chosen by IOC_EMBEDDED_BROKER: Tansu, or one Apache Kafka node.

One factory for `ioc up` (its ports from the settings, Kafka's storage kept across starts)
and the benches (free ports, a scratch folder).
"""

from __future__ import annotations

from pathlib import Path

from ioc.services.broker import EmbeddedBroker
from ioc.services.kafka import DEFAULT_JARS, ApacheKafka, fetch_jars
from ioc.settings import Settings


def embedded_broker(s: Settings, data_dir: Path, port: int, controller_port: int,
                    keep: bool = False) -> EmbeddedBroker | ApacheKafka:
    """Not started yet. Apache Kafka's jars are fetched with Maven when missing; `keep`: its
    storage is formatted only once, so topics and offsets outlive a restart."""
    if s.embedded_broker == "kafka":
        return ApacheKafka(data_dir, [port], [controller_port],
                           fetch_jars(s.kafka_jars or DEFAULT_JARS), keep=keep)
    return EmbeddedBroker(data_dir, port, s.tansu_bin)
