"""The Kafka topics of the IOC and their creation (idempotent)."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ioc.contract import FEEDS
from ioc.errors import ServiceError
from ioc.settings import Settings

log = logging.getLogger(__name__)

FEED_PARTITIONS = 4


def topic_plan(settings: Settings) -> dict[str, int]:
    """Topic name -> partition count."""
    plan = {settings.topic(feed): FEED_PARTITIONS for feed in FEEDS}
    plan[settings.topic("deadletter")] = 1
    return plan


def replication_factor(admin: KafkaAdminClient) -> int:
    """Copies of each topic: three on a cluster of three brokers or more (where a write needs
    two in sync, the brokers' `min.insync.replicas`), else one per broker."""
    try:
        brokers = len(admin.describe_cluster()["brokers"])
    except KafkaError as exc:  # a broker that cannot say: one copy, as before
        log.warning("could not count the brokers (%s): one copy of each topic", exc)
        return 1
    return max(1, min(3, brokers))


def ensure_topics(settings: Settings, bootstrap: str) -> int:
    """Create any missing topic of `topic_plan`; return the replication factor of the
    cluster (what the worker gives its own internal topics too)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ioc-topics",
                                 request_timeout_ms=10000)
    except KafkaError as exc:
        raise ServiceError(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        copies = replication_factor(admin)
        missing = [NewTopic(name, partitions, copies)
                   for name, partitions in topic_plan(settings).items() if name not in existing]
        for topic in missing:
            try:
                admin.create_topics([topic])
                log.info("created topic %s (%d partitions)", topic.name, topic.num_partitions)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return copies
