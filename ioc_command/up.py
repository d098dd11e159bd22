"""`ioc up`: the whole IOC on one machine, supervised.

Starts the embedded services unless external ones are configured, applies migrations,
then runs the worker, the live simulator and the wall as child processes; keeps their logs
rotated and, on plain PostgreSQL, deletes raw events past their age every hour.
Ctrl-C, SIGTERM or the end of `--for` stop everything (exit 0). A part that exits is
started again after a back-off and reported (log, `part_restarts` table, the
`part_restarted` alert) while the rest goes on; a crash loop (`IOC_RESTART_LIMIT` restarts
within `IOC_RESTART_WINDOW_SECONDS`) or a service (database, broker) that dies stops
everything and names it (exit 1). No child outlives this process.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from ioc.db import connect
from ioc.errors import PartDiedError, ServiceError
from ioc.migrate import migrate_database
from ioc.retention import apply_retention
from ioc.services.broker import wait_for_kafka
from ioc.services.embedded import embedded_broker
from ioc.services.postgres import EmbeddedPostgres, owner_url
from ioc.services.process import ManagedProcess, check_port_free
from ioc.settings import Settings
from ioc.supervision import RestartPolicy

log = logging.getLogger(__name__)

LOG_CHECK_SECONDS = 60.0  # how often the logs' sizes are checked
RETENTION_SECONDS = 3600.0  # how often old raw events are deleted (plain PostgreSQL)


def check_database(database_url: str) -> None:
    """Raise a plain `ServiceError` when the configured database does not answer."""
    with connect(database_url, "public", timeout=5) as conn:
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise ServiceError(f"the database answered with an error: {exc}") from None


@dataclass
class Stack:
    """Services and parts started by `ioc up`, stopped in reverse order."""

    settings: Settings
    scenario: str | None = None
    services: list = field(default_factory=list)
    parts: list[ManagedProcess] = field(default_factory=list)
    # where restarts are reported to the person running ioc up
    err: object = field(default_factory=lambda: sys.stderr)
    policies: dict[str, RestartPolicy] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)  # part -> monotonic time
    child_settings: Settings | None = None  # what the parts are given (start_services)
    embedded_db: bool = False  # the database is ours (start_services): a backfill may fill it
    retention: threading.Thread | None = None  # the running retention pass, if any

    def start_services(self) -> Settings:
        """Start or check the database and broker; return settings pointing at them."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        pg = None
        self.embedded_db = s.embedded_db
        if s.embedded_db:
            pg = EmbeddedPostgres(s.data_dir, s.embedded_db_port)
            self.services.append(pg)
            pg.start()
            s = pg.configure(s)
        else:
            check_database(s.database_url)
        if s.embedded_kafka:
            broker = embedded_broker(s, s.data_dir, s.embedded_kafka_port,
                                     s.embedded_kafka_controller_port, keep=True)
            self.services.append(broker)
            broker.start()
            s = s.with_(kafka_bootstrap=broker.bootstrap)
        else:
            wait_for_kafka(s.kafka_bootstrap, timeout=15)
        for namespace in (s, s.for_replay()):
            applied = migrate_database(namespace, s.database_url)
            log.info("database schema %s: %s", namespace.db_schema,
                     f"applied {', '.join(applied)}" if applied else "up to date")
        self.settings = s
        # the parts connect as their own roles: the embedded owner's password stays here
        self.child_settings = s.with_(database_url=owner_url(pg.port, None)) if pg else s
        return s

    def start_part(self, name: str, *args: str) -> ManagedProcess:
        part = ManagedProcess(
            name, [sys.executable, "-m", "ioc_command.cli", *args],
            self.settings.data_dir.resolve() / "logs" / f"{name}.log",
            env=self.child_settings.child_env(),
        ).start()
        self.parts.append(part)
        return part

    def start_parts(self) -> None:
        s = self.settings
        check_port_free(s.worker_host, s.worker_port, "IOC_WORKER_PORT")
        check_port_free(s.dashboard_host, s.dashboard_port, "IOC_DASHBOARD_PORT")
        replay = s.for_replay()
        check_port_free(replay.worker_host, replay.worker_port, "IOC_WORKER_PORT (+1: replay)")
        self.start_part("worker", "worker")
        # stores what `ioc replay` sends, apart from live data
        self.start_part("replay-worker", "worker", "--replay")
        # a first start with the embedded database: the last hours, simulated, so the wall
        # is alive at once (the simulator stores them only into an empty database)
        backfill = (("--backfill-hours", f"{s.backfill_hours:g}")
                    if self.embedded_db and s.backfill_hours > 0 else ())
        self.start_part("simulator", "simulate", *backfill,
                        *(("--scenario", self.scenario) if self.scenario else ()))
        self.start_part("dashboard", "dashboard")
        # alert rules on event time (live, and the replay namespace: that one never notifies)
        self.start_part("alerter", "alerter")
        self.start_part("replay-alerter", "alerter", "--replay")
        self.start_part("notifier", "notifier")

    def supervise(self, stop: threading.Event, for_seconds: float | None) -> None:
        """Return when `stop` is set or time is up; restart a part that exits; raise
        `PartDiedError` on a crash loop or when a service exits."""
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        rotated_at = time.monotonic()
        retained_at = None
        while not stop.wait(0.5):
            if time.monotonic() - rotated_at >= LOG_CHECK_SECONDS:
                rotated_at = time.monotonic()
                self.rotate_logs()
            if retained_at is None or time.monotonic() - retained_at >= RETENTION_SECONDS:
                retained_at = time.monotonic()
                self.start_retention()
            for svc in self.services:
                code = svc.process.exit_code()
                if code is not None:
                    raise PartDiedError(
                        f"{svc.process.name} exited with code {code}; everything was stopped. "
                        f"Last lines of {svc.process.log_file}:\n{svc.process.log_tail()}")
            for part in self.parts:
                self._look_after(part, time.monotonic())
            if deadline is not None and time.monotonic() >= deadline:
                return

    def start_retention(self) -> None:
        """Delete raw events past their age on plain PostgreSQL (`ioc.retention`), in the
        background: a first pass over a long history must not hold up the supervision."""
        if self.retention is not None and self.retention.is_alive():
            return
        self.retention = threading.Thread(target=self._retain, name="retention", daemon=True)
        self.retention.start()

    def _retain(self) -> None:
        s = self.settings
        for namespace in (s, s.for_replay()):
            try:
                with connect(s.database_url, namespace.db_schema, autocommit=True,
                             timeout=5) as conn:
                    apply_retention(conn, datetime.now(UTC))
            except (psycopg.Error, ServiceError) as exc:  # tried again in an hour
                log.warning("retention in schema %s failed: %s", namespace.db_schema, exc)

    def rotate_logs(self) -> None:
        """Keep every log under IOC_LOG_MAX_MB (the services' and the parts')."""
        s = self.settings
        for process in [svc.process for svc in self.services] + self.parts:
            if process is not None:
                process.rotate_log(int(s.log_max_mb * 1024 * 1024), s.log_files_kept)

    def _look_after(self, part: ManagedProcess, now: float) -> None:
        """Restart `part` when it has exited and its back-off is over."""
        code = part.exit_code()
        if code is None:
            return
        due = self.restart_at.get(part.name)
        if due is None:
            s = self.settings
            policy = self.policies.setdefault(
                part.name, RestartPolicy(s.restart_limit, s.restart_window_seconds))
            delay = policy.exited(now)
            if delay is None:
                raise PartDiedError(
                    f"{part.name} exited {policy.recent} times within "
                    f"{s.restart_window_seconds:g} s (last code {code}): a crash loop, so "
                    f"everything was stopped (IOC_RESTART_LIMIT={s.restart_limit}). Last lines "
                    f"of {part.log_file}:\n{part.log_tail()}")
            self.restart_at[part.name] = now + delay
            log.warning("%s exited with code %s; restarting in %g s (restart %d of at most "
                        "%d within %g s)", part.name, code, delay, policy.recent,
                        s.restart_limit, s.restart_window_seconds)
            print(f"{part.name} exited with code {code}; restarting it in {delay:g} s. Last "
                  f"lines of {part.log_file}:\n{part.log_tail(5)}", file=self.err, flush=True)
            self._record_restart(part.name, code, policy.recent)
        elif now >= due:
            del self.restart_at[part.name]
            part.start()

    def _record_restart(self, name: str, code: int, restart: int) -> None:
        """Store the restart for the alert and the wall; a database that does not answer
        must not stop the supervisor (the database's own death is caught above)."""
        try:
            with connect(self.settings.database_url, self.settings.db_schema,
                         autocommit=True, timeout=5) as conn:
                conn.execute("INSERT INTO part_restarts (part, exit_code, restart)"
                             " VALUES (%s, %s, %s)", (name, code, restart))
        except (psycopg.Error, ServiceError) as exc:
            log.warning("could not record the restart of %s: %s", name, exc)

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()
        for service in reversed(self.services):
            service.stop()
        self.parts.clear()
        self.services.clear()


def run_up(settings: Settings, for_seconds: float | None, out=sys.stdout,
           scenario: str | None = None, err=sys.stderr) -> int:
    """Everything, until Ctrl-C, SIGTERM, `for_seconds`, a crash loop or a service dying."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(settings, scenario, err=err)
    started = time.monotonic()
    try:
        s = stack.start_services()
        stack.start_parts()
        stack.rotate_logs()  # an earlier run's log may be past the size already
        print(f"IOC is up in {time.monotonic() - started:.1f} s: wall at "
              f"http://{s.dashboard_host}:{s.dashboard_port}  ·  worker metrics at "
              f"http://{s.worker_host}:{s.worker_port}/metrics  ·  logs in "
              f"{s.data_dir.resolve() / 'logs'}", file=out, flush=True)
        print("Press Ctrl-C to stop." if for_seconds is None
              else f"Stopping by itself after {for_seconds:g} s.", file=out, flush=True)
        stack.supervise(stop, for_seconds)
        return 0
    finally:
        print("Stopping…", file=out, flush=True)
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("Stopped.", file=out, flush=True)
