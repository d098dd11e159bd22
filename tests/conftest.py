"""Shared fixtures: one embedded PostgreSQL and one broker per test session; per test, a
unique schema, topic prefix and consumer group so tests never see each other's data.

The session's broker is a single-node Apache Kafka (the broker production runs), its jars
fetched with Maven when missing; `--broker tansu` runs the tier on the embedded Tansu
instead, which `ioc up`'s own tests start as the product does."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ioc.migrate import migrate_database
from ioc.services.broker import EmbeddedBroker
from ioc.services.kafka import DEFAULT_JARS, ApacheKafka, fetch_jars
from ioc.services.postgres import EmbeddedPostgres
from ioc.services.process import ManagedProcess
from ioc.settings import Settings
from ioc.topics import ensure_topics
from proof.harness import IOC, free_port, free_port_pair, until
from proof.harness import start_part as harness_start_part

REPO = Path(__file__).resolve().parents[1]


def wait_http(url: str, timeout: float = 30.0, part: ManagedProcess | None = None) -> bytes:
    """GET `url` until it answers 200; fail with the part's log if it dies first."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if part is not None and part.exit_code() is not None:
            pytest.fail(f"{part.name} exited ({part.exit_code()}):\n{part.log_tail(40)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return resp.read()
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {timeout} s: {last}")


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; return that value."""
    last: list[object] = [None]

    def look() -> object:
        last[0] = predicate()
        return last[0]
    value = until(look, timeout, interval)
    if value is None:
        pytest.fail(f"timed out after {timeout} s waiting for {what} (last value {last[0]!r})")
    return value


def child_env(settings: Settings) -> dict[str, str]:
    return settings.child_env()


def run_ioc(*args: str, settings: Settings | None = None, env: dict[str, str] | None = None,
            timeout: float = 300, stdin: str | None = None, cwd: Path = REPO,
            check: bool = False) -> subprocess.CompletedProcess:
    """`ioc ARGS` as a user types it, in a child process: its environment is `settings`'
    (`child_env`), or `env`, or this process's."""
    if settings is not None:
        env = child_env(settings)
    return subprocess.run([*IOC, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          input=stdin, timeout=timeout, check=check)


def ioc_json(settings: Settings, *args: str, timeout: float = 300) -> dict:
    """`ioc ARGS` that must succeed; the JSON object on its last line of output."""
    result = run_ioc(*args, settings=settings, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def start_part(settings: Settings, name: str, *args: str) -> ManagedProcess:
    """Run `ioc <args>` as a child process with `settings` in its environment."""
    return harness_start_part(settings, settings.data_dir, f"{name}-{uuid.uuid4().hex[:6]}",
                              *args)


@dataclass(frozen=True)
class Services:
    database_url: str
    bootstrap: str
    data_dir: Path
    secrets: dict[str, str]  # the embedded PostgreSQL's generated role passwords


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[Services]:
    """The real embedded PostgreSQL and broker (Apache Kafka unless --broker tansu), once
    per session."""
    data_dir = tmp_path_factory.mktemp("services")
    pg = EmbeddedPostgres(data_dir, free_port()).start()
    if request.config.getoption("--broker") == "tansu":
        broker = EmbeddedBroker(data_dir, free_port()).start()
    else:
        broker = ApacheKafka(data_dir, [free_port()], [free_port()],
                             fetch_jars(Settings.from_env().kafka_jars or DEFAULT_JARS)).start()
    try:
        yield Services(pg.url, broker.bootstrap, data_dir, pg.secrets)
    finally:
        broker.stop()
        pg.stop()


@pytest.fixture
def settings(services: Services, tmp_path: Path) -> Settings:
    """Settings isolated to this test: own schema, topics, consumer group, ports, data dir."""
    tag = uuid.uuid4().hex[:10]
    worker_port = free_port_pair()
    dashboard_port = free_port()
    while dashboard_port in (worker_port, worker_port + 1):  # +1: the replay worker's
        dashboard_port = free_port()
    return Settings(
        database_url=services.database_url,
        writer_password=services.secrets["ioc_writer"],
        reader_password=services.secrets["ioc_reader"],
        operator_password=services.secrets["ioc_operator"],
        kafka_bootstrap=services.bootstrap,
        data_dir=tmp_path,
        db_schema=f"t_{tag}",
        topic_prefix=f"t{tag}",
        consumer_group=f"g{tag}",
        worker_port=worker_port,
        dashboard_port=dashboard_port,
        refresh_seconds=1.0,
    )


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    """`settings` with its schema migrated and its topics created."""
    migrate_database(settings, settings.database_url)
    ensure_topics(settings, settings.kafka_bootstrap)
    return settings


@pytest.fixture
def worker(migrated: Settings) -> Iterator[ManagedProcess]:
    """A real Faust worker process on this test's topics and schema, ready to consume."""
    part = start_part(migrated, "worker", "worker")
    try:
        wait_http(f"http://127.0.0.1:{migrated.worker_port}/healthz", 60, part)
        yield part
    finally:
        part.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--broker", choices=("kafka", "tansu"), default="kafka",
                     help="the session's broker: Apache Kafka (single node, default) or the "
                          "embedded Tansu")
    parser.addoption("--screenshot-dir", default=None,
                     help="save the wall pages' screenshots there (make screenshot:"
                          " docs/screenshots/)")
    parser.addoption("--fuzz-examples", type=int, default=300,
                     help="inputs each fuzz test tries (make fuzz: many more)")
