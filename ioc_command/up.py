"""`ioc up`: the whole IOC on one machine, supervised.

Starts the embedded services unless external ones are configured, applies migrations,
then runs the worker, the live simulator and the wall as child processes; keeps their logs
rotated and, on plain PostgreSQL, deletes raw events past their age every hour.
The embedded Tansu, which keeps every event in memory, is renewed (emptied, losing nothing)
once it holds IOC_TANSU_MAX_EVENTS or has run IOC_TANSU_MAX_HOURS.
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
from kafka.errors import KafkaError

from ioc.db import connect
from ioc.errors import PartDiedError, ServiceError
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc.retention import apply_retention
from ioc.services.broker import EmbeddedBroker, wait_for_kafka
from ioc.services.embedded import embedded_broker
from ioc.services.postgres import EmbeddedPostgres, owner_url
from ioc.services.process import ManagedProcess, check_port_free
from ioc.settings import Settings
from ioc.status import consumer_lag, records_held
from ioc.supervision import RestartPolicy
from ioc_command.commands.simulate import simulator_key
from prober.targets import targets

log = logging.getLogger(__name__)

LOG_CHECK_SECONDS = 60.0  # how often the logs' sizes are checked
RETENTION_SECONDS = 3600.0  # how often old raw events are deleted (plain PostgreSQL)
TANSU_CHECK_SECONDS = 15.0  # how often the embedded Tansu's size is looked at
TANSU_RETRY_SECONDS = 600.0  # after a renewal that could not be done, the next try
DRAIN_SECONDS = 120.0  # the most a renewal of Tansu waits for the workers to store everything


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
    # where restarts are reported to the person running ioc up, and renewals of Tansu
    err: object = field(default_factory=lambda: sys.stderr)
    out: object = field(default_factory=lambda: sys.stdout)
    policies: dict[str, RestartPolicy] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)  # part -> monotonic time
    child_settings: Settings | None = None  # what the parts are given (start_services)
    embedded_db: bool = False  # the database is ours (start_services): a backfill may fill it
    retention: threading.Thread | None = None  # the running retention pass, if any
    tansu: EmbeddedBroker | None = None  # the embedded Tansu, renewed when too full or old
    tansu_since: float = 0.0  # monotonic time it started
    tansu_retry_at: float = 0.0  # no renewal before (monotonic): the last one was not done

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
            if isinstance(broker, EmbeddedBroker):
                self.tansu, self.tansu_since = broker, time.monotonic()
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

    def start_part(self, name: str, *args: str, settings: Settings | None = None
                   ) -> ManagedProcess:
        # -P: the folder ioc up runs in is not put first on the parts' import path (a data
        # folder named "ioc" there shadowed the package: "sql is missing from ... 'ioc'")
        part = ManagedProcess(
            name, [sys.executable, "-P", "-m", "ioc_command.cli", *args],
            self.settings.data_dir.resolve() / "logs" / f"{name}.log",
            env=(settings or self.child_settings).child_env(),
        ).start()
        self.parts.append(part)
        return part

    def start_parts(self) -> None:
        s = self.settings
        check_port_free(s.worker_host, s.worker_port, "IOC_WORKER_PORT")
        check_port_free(s.dashboard_host, s.dashboard_port, "IOC_DASHBOARD_PORT")
        check_port_free(s.intake_host, s.intake_port, "IOC_INTAKE_PORT")
        replay = s.for_replay()
        check_port_free(replay.worker_host, replay.worker_port, "IOC_WORKER_PORT (+1: replay)")
        self.start_part("worker", "worker")
        # stores what `ioc replay` sends, apart from live data
        self.start_part("replay-worker", "worker", "--replay")
        # a first start with the embedded database: the last hours, simulated, so the wall
        # is alive at once (the simulator stores them only into an empty database)
        backfill = (("--backfill-hours", f"{s.backfill_hours:g}")
                    if self.embedded_db and s.backfill_hours > 0 else ())
        rate = (("--rate-multiplier", f"{s.simulator_rate:g}")
                if s.simulator_rate != 1 else ())
        # through the HTTP intake (IOC_SIMULATOR_VIA=http): with a key only it is given
        key = simulator_key(s) if s.simulator_via == "http" else None
        self.start_part("simulator", "simulate", *backfill, *rate,
                        *(("--scenario", self.scenario) if self.scenario else ()),
                        settings=self.child_settings.with_(simulator_key=key))
        self.start_part("dashboard", "dashboard")
        # the province's systems send their events here over HTTP (loopback by default)
        self.start_part("intake", "intake")
        # the links the IOC measures itself: hospitals with an endpoint in the province file
        if targets(load_province(s.province_file)):
            self.start_part("probe", "probe")
        # alert rules on event time (live, and the replay namespace: that one never notifies)
        self.start_part("alerter", "alerter")
        self.start_part("replay-alerter", "alerter", "--replay")
        self.start_part("notifier", "notifier")

    def supervise(self, stop: threading.Event, for_seconds: float | None) -> None:
        """Return when `stop` is set or time is up; restart a part that exits; raise
        `PartDiedError` on a crash loop or when a service exits."""
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        rotated_at = looked_at = time.monotonic()
        retained_at = None
        while not stop.wait(0.5):
            if self.tansu is not None and time.monotonic() - looked_at >= TANSU_CHECK_SECONDS:
                why = self.tansu_due()
                if why:
                    self.renew_tansu(why)
                looked_at = time.monotonic()
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

    def tansu_due(self) -> str | None:
        """Why the embedded Tansu should be renewed now (None: not yet). Tansu keeps every
        event in memory and has no retention of its own: without this it grows for ever."""
        s = self.settings
        if time.monotonic() < self.tansu_retry_at:
            return None
        hours = (time.monotonic() - self.tansu_since) / 3600
        if hours >= s.tansu_max_hours:
            return f"it had run {hours:.1f} h (IOC_TANSU_MAX_HOURS={s.tansu_max_hours:g})"
        try:
            held = records_held(s.kafka_bootstrap)
        except KafkaError as exc:
            log.warning("could not count the events Tansu holds: %s", exc)
            return None
        if held >= s.tansu_max_events:
            return f"it held {held} events (IOC_TANSU_MAX_EVENTS={s.tansu_max_events})"
        return None

    def renew_tansu(self, why: str) -> bool:
        """Replace the embedded Tansu by an empty one, losing nothing: the simulator stops
        (flushing what it sent), the workers store every event the broker holds, then stop;
        the broker is restarted empty and everything starts again. Not done (False) when the
        workers do not catch up within DRAIN_SECONDS or someone else wrote meanwhile."""
        began = time.monotonic()
        parts = {p.name: p for p in self.parts}
        simulator, workers = parts["simulator"], [parts["worker"], parts["replay-worker"]]
        simulator.stop()
        done = self._drained(DRAIN_SECONDS)
        if done:
            for worker in workers:
                worker.stop()
            done = self._drained(0.0)  # a producer outside ioc up wrote meanwhile: not now
            if done:
                self.tansu.stop()
                self.tansu.start()
                self.tansu_since = time.monotonic()
            for worker in workers:
                worker.start()
        simulator.start()
        for part in (simulator, *workers):  # a back-off pending for one is moot now
            self.restart_at.pop(part.name, None)
        if done:
            print(f"Renewed the embedded Tansu broker: {why}; every event was stored first, "
                  f"the simulator paused {time.monotonic() - began:.1f} s.",
                  file=self.out, flush=True)
        else:
            self.tansu_retry_at = time.monotonic() + TANSU_RETRY_SECONDS
            log.warning("the embedded Tansu was not renewed (%s): the workers had not stored "
                        "everything; trying again in %.0f s", why, TANSU_RETRY_SECONDS)
        return done

    def _drained(self, timeout: float) -> bool:
        """True once the live and replay workers have committed every event on the broker."""
        deadline = time.monotonic() + timeout
        s = self.settings
        while True:
            try:
                if all(not lag for namespace in (s, s.for_replay())
                       for lag in consumer_lag(namespace, s.kafka_bootstrap).values()):
                    return True
            except KafkaError as exc:
                log.warning("consumer lag unknown while renewing Tansu: %s", exc)
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)

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
    stack = Stack(settings, scenario, err=err, out=out)
    started = time.monotonic()
    try:
        s = stack.start_services()
        stack.start_parts()
        stack.rotate_logs()  # an earlier run's log may be past the size already
        print(f"IOC is up in {time.monotonic() - started:.1f} s: wall at "
              f"http://{s.dashboard_host}:{s.dashboard_port}  ·  worker metrics at "
              f"http://{s.worker_host}:{s.worker_port}/metrics  ·  HTTP intake at "
              f"http://{s.intake_host}:{s.intake_port}/v1/events  ·  logs in "
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
