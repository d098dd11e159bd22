"""`ioc simulate`: a simulated province's feeds sent to Kafka, recorded, or both."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ioc.errors import ServiceError, SettingsError
from ioc.services.endpoints import embedded_urls
from ioc.services.process import stop_on_signals
from ioc.settings import Settings
from ioc_command.arguments import moment, speed
from ioc_command.services import require_running

log = logging.getLogger("ioc")

HELP = "send a simulated province's feeds to Kafka (or through the HTTP intake), or record"
SOURCE = "simulator"  # the source the simulator sends as through the intake


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--province", help="province: national code or file (default: IOC_PROVINCE)")
    p.add_argument("--seed", type=int,
                   help="random seed: the same seed gives the same events (default: a new one)")
    p.add_argument("--start", type=moment, metavar="TIME",
                   help="simulated start, RFC 3339 with offset (default: now)")
    p.add_argument("--speed", type=speed, default=1.0, metavar="X|max",
                   help="simulated seconds per second: 1 real time, 60, ... or max (default 1)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="simulated seconds to run (default: until Ctrl-C; required with max)")
    p.add_argument("--rate-multiplier", type=float, default=1.0, metavar="M",
                   help="scale the traffic: dossiers, payments, consultations and portal "
                        "requests x M, heartbeats M times as often, on the province's own "
                        "links and portals (default 1)")
    p.add_argument("--record", type=Path, metavar="FILE",
                   help="also write what is sent to FILE (gzip JSON lines)")
    p.add_argument("--record-only", action="store_true",
                   help="write the recording without sending anything to Kafka")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help="layer a scenario's timed incidents on the normal day (`ioc scenarios`)")
    p.add_argument("--via", choices=("kafka", "http"), default=None,
                   help="send straight to Kafka, or through the HTTP intake (`ioc intake`) "
                        "with the key of source `simulator`, made or renewed here "
                        "(default: IOC_SIMULATOR_VIA, kafka)")
    p.add_argument("--backfill-hours", type=float, default=0.0, metavar="H",
                   help="first store the H hours before now straight into the database when"
                        " it holds no events yet (what ioc up does on a first start), then go"
                        " on live (default 0: none)")


class Progress:
    """A progress line on stderr every few seconds of long work."""

    def __init__(self, every: float = 2.0):
        self._time = time.monotonic
        self._every = every
        self._next = self._time() + every

    def __call__(self, sim_now: float, total: int) -> None:
        if self._time() >= self._next:
            self._next = self._time() + self._every
            print(f"  simulated up to {datetime.fromtimestamp(sim_now, UTC).isoformat()}: "
                  f"{total} events", file=sys.stderr, flush=True)


def simulator_key(settings: Settings) -> str:
    """A new key of source `simulator` (made the first time; a key is shown only once, so
    each start takes a new one), by the database's owner."""
    from ioc import sources
    from ioc.contract import FEEDS
    from ioc.db import connect
    from ioc.services.endpoints import embedded_urls
    from ioc_command.services import database

    with database(settings, create=False) as here, connect(
            embedded_urls(here)[0], here.db_schema, autocommit=True) as conn:
        return sources.renewed(conn, SOURCE, FEEDS, "ioc simulate")


def http_sender(settings: Settings):  # noqa: ANN201 - simulators.http_sender.IntakeSender
    """A sender to the intake (waiting up to 30 s for it to listen: `ioc up` starts both)."""
    from ioc_command.services import answers
    from simulators.http_sender import IntakeSender

    host = "127.0.0.1" if settings.intake_host in ("0.0.0.0", "::") else settings.intake_host
    deadline = time.monotonic() + 30
    while not answers(host, settings.intake_port):
        if time.monotonic() > deadline:
            raise ServiceError(f"the HTTP intake ({host}:{settings.intake_port}, "
                               "IOC_INTAKE_PORT) is not running: start `ioc up` (or "
                               "`ioc intake`) first")
        time.sleep(0.5)
    key = settings.simulator_key or simulator_key(settings)
    return IntakeSender(f"http://{host}:{settings.intake_port}/v1/events", key)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    from ioc.calendar import settings_calendar
    from ioc.province import load_province
    from simulators.generator import ProvinceSimulator
    from simulators.recording import RecordingWriter
    from simulators.run import run_simulation
    from simulators.scenarios import load_scenario, resolve, scenario_path

    if args.speed is None and args.duration is None:
        raise SettingsError("--speed max needs --duration (simulated seconds)")
    if args.rate_multiplier <= 0:
        raise SettingsError(f"--rate-multiplier {args.rate_multiplier}: expected a number > 0")
    if args.backfill_hours and (args.speed != 1 or args.start or args.record_only):
        raise SettingsError("--backfill-hours goes with a live run only (no --start, --speed"
                            " or --record-only)")
    if not args.record_only:
        require_running(settings, db=bool(args.backfill_hours), kafka=True)
    province_file = args.province or settings.province_file
    province = load_province(province_file)
    # runs without --seed get a fresh seed, so a restart never re-sends old event ids
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    start = (args.start or datetime.now(UTC)).timestamp()
    incidents, scenario_name = [], None
    if args.scenario:
        path = scenario_path(args.scenario)
        scenario = load_scenario(path)
        scenario_name = scenario.name
        incidents = resolve(scenario, province, start, path)
        for a in incidents:
            log.info("scenario %s: %s on %s from %s for %.0f s", scenario.name,
                     a.incident.kind, a.target,  # type: ignore[attr-defined]
                     datetime.fromtimestamp(a.start, UTC).isoformat(), a.end - a.start)
    simulator = ProvinceSimulator(province, seed=seed, multiplier=args.rate_multiplier,
                                  incidents=incidents, calendar=settings_calendar(settings))
    emitters: list = []
    producer = None
    via = args.via or settings.simulator_via
    if not args.record_only and via == "http":
        emitters.append(http_sender(settings))
    elif not args.record_only:
        from ioc.topics import ensure_topics
        from simulators.producer import FeedProducer

        _, bootstrap = embedded_urls(settings)
        ensure_topics(settings, bootstrap)
        producer = FeedProducer(settings, bootstrap)
        emitters.append(producer)
    writer = None
    if args.record:
        writer = RecordingWriter(args.record, {
            "province": province.province.code, "seed": seed,
            "start": datetime.fromtimestamp(start, UTC).isoformat(),
            "duration": args.duration, "rate_multiplier": args.rate_multiplier,
            "scenario": scenario_name, "topic_prefix": settings.topic_prefix}, settings)
        emitters.append(writer)
    if not emitters:
        raise SettingsError("--record-only needs --record FILE")
    stop = stop_on_signals()
    resumed = None
    if args.backfill_hours:
        from ioc_command.backfill import backfill

        resumed = backfill(settings, province, simulator, args.backfill_hours, seed, stop)
    began = time.perf_counter()
    try:
        sent = run_simulation(simulator, emitters, stop, start if resumed is None else resumed,
                              args.duration, args.speed, progress=Progress(),
                              started=resumed is not None)
        if producer:
            producer.flush()
    finally:
        if writer:
            writer.close()
    seconds = time.perf_counter() - began
    print(json.dumps({"events": sent, "seed": seed, "scenario": scenario_name,
                      "start": datetime.fromtimestamp(start, UTC).isoformat(),
                      "recording": str(args.record) if args.record else None,
                      "seconds": round(seconds, 3),
                      "events_per_second": round(sent / seconds) if seconds else None}))
    return 0
