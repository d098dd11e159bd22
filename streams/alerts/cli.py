"""What the alert commands of `ioc` run (their parsers are in ioc_command/commands/): the
`alerter` and `notifier` parts, and `ioc alerts ...` for operators (list, history,
acknowledge, silence, expire).

Operator actions go through the audited SQL functions as role ioc_operator, exactly like the
wall's buttons; listing reads as ioc_reader.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from ioc.db import OPERATOR_ROLE, READER_ROLE, WRITER_ROLE, connect, role_url
from ioc.errors import IocError
from ioc.matchers import MatcherError, parse_matcher
from ioc.services.endpoints import embedded_urls
from ioc.services.process import stop_on_signals
from ioc.settings import Settings

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
def _urls(settings: Settings) -> str:
    return embedded_urls(settings)[0]


def _stop():
    return stop_on_signals()


def cmd_alerter(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.calendar import settings_calendar
    from ioc.province import load_province
    from streams.alerts.engine import Engine
    from streams.alerts.rules import load_rules

    if args.replay:
        settings = settings.for_replay()
    rules = load_rules(settings.alert_rules)
    province = load_province(settings.province_file)
    stop = _stop()
    with _writer(settings, "ioc-alerter") as conn:
        if not _wait_for_schema(conn, stop):
            return 0
        probe = None if args.replay else LagProbe(settings, stop)
        engine = Engine(conn, rules, province, settings_calendar(settings), replay=args.replay,
                        name="replay" if args.replay else "alerter",
                        lag=probe.value if probe else None,
                        stalled=probe.stalled_seconds if probe else None,
                        brokers=probe.brokers_out_of_sync if probe else None)
        engine.run(stop)
    return 0


BROKERS_KEPT_SECONDS = 30.0  # the last answer about the brokers, kept while none comes


class LagProbe:
    """The workers' consumer lag, measured in the background every few seconds (a
    measurement opens Kafka clients and takes about a second: not on the engine's path),
    per feed how long its backlog has waited with nothing committed (a stalled agent,
    a frozen or dead worker: seen from the outside, whatever the worker says of itself),
    and per broker its copies of the feeds' partitions out of sync."""

    def __init__(self, settings: Settings, stop: threading.Event, every: float = 5.0):
        from streams.health import StallDetector

        self.settings = settings
        self.bootstrap = embedded_urls(settings)[1]
        self.latest: int | None = None
        self.stalled: dict[str, float] | None = None
        self.brokers: dict[int, int] | None = None
        self.brokers_at = 0.0  # when `brokers` was read (time.time())
        # stall_seconds is unused here: only the per-partition waiting times are read
        self._detector = StallDetector(stall_seconds=float("inf"), started_at=time.time())
        self.stop = stop
        self.every = every
        threading.Thread(target=self._loop, name="lag-probe", daemon=True).start()

    def _loop(self) -> None:
        from kafka.errors import KafkaError

        from ioc.status import PartitionPositions

        positions = PartitionPositions(self.settings, self.bootstrap)
        try:
            while not self.stop.is_set():
                # apart: a fetch failing while a broker is away must not hide the brokers
                self._look_at_brokers(positions)
                try:
                    self._look(positions.read(), time.time())
                except (KafkaError, OSError) as exc:
                    log.warning("consumer lag unknown: %s", exc)
                    self.latest = self.stalled = None
                self.stop.wait(self.every)
        finally:
            positions.close()

    def _look_at_brokers(self, positions) -> None:  # noqa: ANN001 - ioc.status.PartitionPositions
        """Which brokers hold copies out of sync. The clients fail now and then while a
        broker is away (the very moment to tell): asked again at once, on fresh clients;
        when still unknown, the last answer holds for BROKERS_KEPT_SECONDS, so one failed
        look does not resolve the broker's alert."""
        from kafka.errors import KafkaError

        for attempt in range(3):
            try:
                self.brokers, self.brokers_at = positions.replicas_out_of_sync(), time.time()
                return
            except (KafkaError, OSError) as exc:
                log.warning("brokers' copies unknown (try %d of 3): %s", attempt + 1, exc)
                self.stop.wait(0.5)
        if time.time() - self.brokers_at > BROKERS_KEPT_SECONDS:
            self.brokers = None

    def _look(self, positions: dict[str, dict[tuple[str, int], tuple[int, int]]],
              now: float) -> None:
        flat = {tp: pos for tps in positions.values() for tp, pos in tps.items()}
        look = self._detector.assess(now, {tp: end for tp, (end, _) in flat.items()},
                                     {tp: done for tp, (_, done) in flat.items()},
                                     last_poll=now)
        self.latest = sum(look.lag.values()) if flat else None
        waiting = self._detector.stalled_seconds()
        self.stalled = {feed: max((waiting.get(tp, 0.0) for tp in tps), default=0.0)
                        for feed, tps in positions.items()}

    def value(self) -> int | None:
        return self.latest

    def stalled_seconds(self) -> dict[str, float] | None:
        return self.stalled

    def brokers_out_of_sync(self) -> dict[int, int] | None:
        return self.brokers


def _writer(settings: Settings, name: str):  # noqa: ANN202 - a psycopg connection
    """The part's connection as the writer role, named `name` in pg_stat_activity."""
    return connect(role_url(_urls(settings), WRITER_ROLE, settings.writer_password),
                   settings.db_schema, autocommit=True, application_name=name)


def _wait_for_schema(conn, stop) -> bool:  # noqa: ANN001
    """Wait until the alert tables exist (a replay schema may be migrated later)."""
    waited = False
    while conn.execute("SELECT to_regclass('alert_engine_state')").fetchone()[0] is None:
        if not waited:
            print("waiting for the alert tables (run `ioc migrate`)", file=sys.stderr, flush=True)
            waited = True
        if stop.wait(2):
            return False
    return True


def cmd_notifier(args: argparse.Namespace, settings: Settings) -> int:
    from streams.alerts.notify import Notifier
    from streams.alerts.rules import load_rules

    rules = load_rules(settings.alert_rules)
    stop = _stop()
    with _writer(settings, "ioc-notifier") as conn:
        if not _wait_for_schema(conn, stop):
            return 0
        Notifier(conn, rules.notifications, webhook_urls=settings.webhook_urls,
                 alertmanager_url=settings.alertmanager_url,
                 wall_url=settings.wall_url).run(stop)
    return 0


def parse_duration(raw: str) -> timedelta:
    """'90s', '30m', '2h', '1d' -> timedelta."""
    m = _DURATION.match(raw.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a duration such as 30m, 2h or 1d")
    return timedelta(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[
        m.group(2)])


def matcher_argument(raw: str) -> dict[str, str]:
    try:
        return parse_matcher(raw)
    except MatcherError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _operator_call(settings: Settings, query: str, params: tuple):
    import psycopg

    url = role_url(_urls(settings), OPERATOR_ROLE, settings.operator_password)
    with connect(url, settings.db_schema, autocommit=True,
                 application_name="ioc-alerts") as conn:
        try:
            return conn.execute(query, params).fetchone()
        except psycopg.errors.RaiseException as exc:
            raise IocError(str(exc).splitlines()[0]) from None


def _reader(settings: Settings):
    return connect(role_url(_urls(settings), READER_ROLE, settings.reader_password),
                   settings.db_schema, autocommit=True, application_name="ioc-alerts")


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "replay", False):
        settings = settings.for_replay()
    action = args.alerts_command
    if action == "ack":
        _operator_call(settings, "SELECT alert_acknowledge(%s, %s, %s)",
                       (args.fingerprint, args.by, args.comment))
        print(f"acknowledged {args.fingerprint}")
    elif action == "silence":
        now = datetime.now(UTC)
        (sid,) = _operator_call(settings, "SELECT silence_create(%s, %s, %s, %s, %s)",
                                (json.dumps(args.match, ensure_ascii=False), now,
                                 now + args.duration, args.by, args.comment))
        print(f"silence {sid} until {(now + args.duration).isoformat()}")
    elif action == "expire":
        _operator_call(settings, "SELECT silence_expire(%s, %s)", (args.id, args.by))
        print(f"silence {args.id} expired")
    elif action == "silences":
        with _reader(settings) as conn:
            rows = conn.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences_active"
                " ORDER BY id").fetchall()
        _print(args, [dict(zip(("id", "matchers", "starts_at", "ends_at", "created_by",
                                "comment"), r, strict=True)) for r in rows])
    elif action == "history":
        with _reader(settings) as conn:
            rows = conn.execute(
                "SELECT at, rule, labels, from_state, to_state, value FROM alert_transitions"
                " ORDER BY at DESC, id DESC LIMIT %s", (args.limit,)).fetchall()
        _print(args, [dict(zip(("at", "rule", "labels", "from", "to", "value"), r, strict=True))
                      for r in rows])
    else:  # list
        states = ("pending", "firing", "flapping", "resolved") if args.all else (
            "pending", "firing", "flapping")
        with _reader(settings) as conn:
            rows = conn.execute(
                "SELECT fingerprint, rule, severity, state, labels, value, threshold, starts_at,"
                " ends_at, summary_vi, summary_en, acknowledged_by, inhibited_by, silenced_by"
                " FROM alerts_current WHERE state = ANY(%s)"
                " ORDER BY (severity = 'critical') DESC, starts_at DESC NULLS LAST",
                (list(states),)).fetchall()
        keys = ("fingerprint", "rule", "severity", "state", "labels", "value", "threshold",
                "starts_at", "ends_at", "summary_vi", "summary_en", "acknowledged_by",
                "inhibited_by", "silenced_by")
        _print(args, [dict(zip(keys, r, strict=True)) for r in rows])
    return 0


def _print(args: argparse.Namespace, rows: list[dict]) -> None:
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        if "summary_vi" in r:
            flags = "".join(f" [{k}]" for k in ("acknowledged_by", "inhibited_by", "silenced_by")
                            if r[k])
            print(f"{r['fingerprint']}  {r['state']:<9} {r['severity']:<8} {r['summary_vi']}"
                  f"{flags}")
        else:
            print("  ".join(str(v) for v in r.values()))
    if not rows:
        print("(none)", file=sys.stderr)
