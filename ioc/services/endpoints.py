"""Where the database and the broker are: the configured ones, else the embedded ones that
`ioc up` starts under `IOC_DATA_DIR` (every command run beside it finds them the same way)."""

from __future__ import annotations

from ioc.services import broker, postgres
from ioc.settings import Settings


def embedded_urls(settings: Settings) -> tuple[str, str]:
    """The database URL and Kafka bootstrap in use: configured ones, else the embedded ones."""
    db = settings.database_url or postgres.embedded_url(settings.data_dir,
                                                        settings.embedded_db_port)
    kafka = settings.kafka_bootstrap or f"{broker.HOST}:{settings.embedded_kafka_port}"
    return db, kafka
