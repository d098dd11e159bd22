"""The `ioc` command: one entry point for every part of the IOC."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ioc.errors import IocError, SettingsError
from ioc.services.endpoints import embedded_urls
from ioc.services.process import stop_on_signals
from ioc.settings import Settings, describe

log = logging.getLogger("ioc")


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from ioc_command.up import run_up

    if args.scenario:  # fail now, not in a child part
        from simulators.scenarios import load_scenario, scenario_path

        load_scenario(scenario_path(args.scenario))
    return run_up(settings, args.for_seconds, scenario=args.scenario)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from ioc.topics import ensure_topics
    from streams.app import create_app

    if args.replay:
        settings = settings.for_replay()
    _, bootstrap = embedded_urls(settings)
    # real producers may come before any simulator
    copies = ensure_topics(settings, bootstrap)
    app = create_app(settings.with_(kafka_bootstrap=bootstrap), live=not args.replay,
                     replication=copies)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                          redirect_stdouts=False)
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from ioc_dashboard.app import serve

    serve(settings)
    return 0


class _Progress:
    """A progress line on stderr every few seconds of long work."""

    def __init__(self, every: float = 2.0):
        import time

        self._time = time.monotonic
        self._every = every
        self._next = self._time() + every

    def __call__(self, sim_now: float, total: int) -> None:
        from datetime import UTC, datetime

        if self._time() >= self._next:
            self._next = self._time() + self._every
            print(f"  simulated up to {datetime.fromtimestamp(sim_now, UTC).isoformat()}: "
                  f"{total} events", file=sys.stderr, flush=True)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    import secrets
    import time
    from datetime import UTC, datetime

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
    if not args.record_only:
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
                              args.duration, args.speed, progress=_Progress(),
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


def cmd_scenarios(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.scenarios import SCENARIOS_DIR, known_scenarios, load_scenario

    for name in known_scenarios():
        scenario = load_scenario(SCENARIOS_DIR / f"{name}.yaml")
        kinds = ", ".join(i.kind for i in scenario.incidents)
        print(f"{name:<26} {scenario.title_vi}\n{'':<26} {scenario.title_en} [{kinds}]")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from datetime import UTC, datetime

    from ioc.db import connect
    from ioc.migrate import migrate_database
    from ioc.topics import ensure_topics
    from simulators.producer import FeedProducer
    from simulators.recording import read_header, read_records
    from simulators.replay import ReplayRuns, rebase_shift, replay

    header = read_header(args.file)
    target = settings.for_replay()  # replayed data never mixes with live data
    db, bootstrap = embedded_urls(settings)
    migrate_database(target, db)
    ensure_topics(target, bootstrap)
    producer = FeedProducer(target, bootstrap)
    span: dict[str, float | None] = {"first": None, "last": None}
    with connect(db, target.db_schema) as conn:
        runs = ReplayRuns(conn)
        runs.clear_replayed_data(events=not args.keep)
        runs.begin(str(args.file), header.get("seed"), args.speed, args.rebase)

        def progress(sent: int, first: float, last: float) -> None:
            span.update(first=first, last=last)
            runs.progress(sent, first, last)

        shift = None
        if args.rebase:  # a first pass finds the recorded period
            sends = [r.send_time for r in read_records(args.file)]
            if sends:
                shift = rebase_shift(sends[0], max(sends), time.time(), args.speed)
        began = time.perf_counter()
        sent = 0
        try:
            sent = replay(read_records(args.file), producer, stop_on_signals(), args.speed,
                          shift=shift, progress=progress)
            producer.flush()
        finally:
            runs.finish(sent, span["first"], span["last"])
    seconds = time.perf_counter() - began

    def iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()

    print(json.dumps({
        "events": sent, "recording": str(args.file), "seed": header.get("seed"),
        "topic_prefix": target.topic_prefix, "db_schema": target.db_schema,
        "run_id": runs.run_id, "seconds": round(seconds, 3),
        "events_per_second": round(sent / seconds) if seconds else None,
        "first_event_at": iso(span["first"]), "last_event_at": iso(span["last"]),
    }))
    return 0


BENCH_SUITES = {
    # suite -> module with `add_arguments(parser)` and `run(args, settings) -> dict`
    # (figures printed as JSON)
    "pipeline": "proof.bench.pipeline",
    "feeds": "proof.bench.feeds",
    "wall": "proof.bench.wall",
    "alerts": "proof.bench.alerts",
    "backtest": "proof.bench.backtest",
    "identity": "proof.bench.identity",
}


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    import importlib

    figures = importlib.import_module(BENCH_SUITES[args.suite]).run(args, settings)
    print(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2))
    missed = [k for k, v in figures.get("targets", {}).items() if k.endswith("_met") and not v]
    if args.check and missed:
        print(f"ioc bench: targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def cmd_chaos(args: argparse.Namespace, settings: Settings) -> int:
    from proof.chaos import run

    return run(args, settings)


def cmd_soak(args: argparse.Namespace, settings: Settings) -> int:
    from proof.soak import run

    return run(args, settings)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.migrate import migrate_database

    db, _ = embedded_urls(settings)
    applied = migrate_database(settings, db)
    print(f"schema {settings.db_schema}: " + (f"applied {', '.join(applied)}" if applied
                                               else "already up to date"))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.status import collect

    db, kafka = embedded_urls(settings)
    doc = collect(settings, db, kafka)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    for feed, f in doc["feeds"].items():
        print(f"{feed:<13} rows {f['rows_stored']:>10}  newest {f['newest_event_at'] or '-':<32}"
              f"  lag {f['consumer_lag'] if f['consumer_lag'] is not None else '?'}")
    print(f"dead letters  {doc['dead_letters']}")
    print(f"alerts firing {len(doc['alerts'])}")
    for alert in doc["alerts"]:
        print(f"  {alert['severity']:<8} {alert['summary_vi']}")
    if "kafka_error" in doc:
        print(f"kafka: {doc['kafka_error']}")
    return 0


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.calendar import settings_calendar
    from ioc.known_codes import KnownCodes
    from ioc.migrate import migrate_database
    from ioc.province import load_province
    from ioc.services.endpoints import embedded_urls
    from ioc.units import UnitsDataset
    from simulators.recording import read_header, read_records
    from streams.alerts.backtest import run
    from streams.alerts.rules import load_rules
    from streams.metrics import dead_letter_reason_label

    if args.recording is None and (args.since is None or args.until is None):
        raise IocError("give --recording FILE, or --from and --to (stored history)")
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise IocError("--to must be after --from")
    if args.recording is not None:
        read_header(args.recording)  # a file that is no recording stops here, named
    rules_path = args.rules or settings.alert_rules
    rules = load_rules(rules_path)
    against = load_rules(args.against) if args.against else None
    province = load_province(settings.province_file)
    url = embedded_urls(settings)[0]
    backtest = settings.for_backtest()
    migrate_database(backtest, url)
    run_id, result = run(
        url, backtest.db_schema, settings.db_schema, rules, against, province,
        settings_calendar(settings), KnownCodes(province, UnitsDataset()),
        recording=(str(args.recording), read_records(args.recording))
        if args.recording else None, since=args.since, until=args.until,
        names=(str(rules_path), str(args.against) if args.against else None),
        label=dead_letter_reason_label, workers=args.workers)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, sort_keys=True, indent=1))
        return 0
    print(f"run {run_id}: {result['events']['stored']} events, "
          f"{result['period']['first_event']} – {result['period']['last_event']}")
    if result["left_out"]:
        print("left out (they watch the running system, not the data): "
              + ", ".join(result["left_out"]))
    for rule, s in result["summary"].items():
        print(f"{rule:<28} fired {s['fired']:>4}  firing {s['firing_seconds'] / 60:8.1f} min")
    for a in result["alerts"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        for e in a["episodes"]:
            print(f"  {a['rule']} {{{labels}}} {e['starts_at']} → {e['ends_at'] or '…'}")
    if "against" in result:
        for side, name in (("only_with_rules", "only with --rules"),
                           ("only_with_against", "only with --against")):
            print(f"{name}: {len(result['against'][side])}")
            for e in result["against"][side]:
                print(f"  {e['rule']} {e['labels']} {e['starts_at']} → {e['ends_at'] or '…'}")
    return 0


def cmd_indicators(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from ioc.db import connect
    from ioc.indicators import evaluate, load_indicator_set, read_scopes, report
    from ioc.province import load_province

    province = load_province(settings.province_file)
    tz = ZoneInfo(province.province.timezone)
    now = datetime.now(tz)
    if args.month:
        start = args.month.replace(tzinfo=tz)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = (args.day or now).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=tz)
        end = start + timedelta(days=1)
    until = min(end, now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    since = start.astimezone(UTC)
    indicators = load_indicator_set()
    db, _ = embedded_urls(settings)
    with connect(db, settings.db_schema, autocommit=True) as conn:
        scopes = [s for s in read_scopes(conn, since, until.astimezone(UTC))
                  if s.level in args.by]
    names = {a.code: a.name_vi for a in province.agencies}
    names |= {u.code: u.name_vi for u in province.units}
    names[province.service_centre.code] = province.service_centre.name_vi
    doc = report(scopes, indicators, province.targets, names, start, until)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"Quyết định {indicators.decision}, {province.province.name_vi}, "
          f"{start:%d/%m/%Y %H:%M} – {until:%d/%m/%Y %H:%M}")
    for g in indicators.groups:
        if g.not_computed_because:
            print(f"  ({g.name_vi}, {g.points} điểm: không tính được; "
                  f"{' '.join(g.not_computed_because.split())})")
    for scope, entry in zip(scopes, doc["scopes"], strict=True):
        label = entry["name"] or (province.province.name_vi if scope.level == "province"
                                  else "(không rõ trung tâm)")
        cells = []
        for r in evaluate(scope.counts, indicators, province.targets):
            mark = "" if r.met is None else (" ✓" if r.met else " ✗")
            value = "—" if r.value is None else f"{r.value:.2%}"
            cells.append(f"{r.indicator.key} {value}{mark}")
        print(f"{scope.level:<8} {label[:34]:<34} " + "  ".join(cells))
    return 0


def _day(raw: str):  # noqa: ANN202 - argparse type
    from datetime import datetime

    try:
        return datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a day as YYYY-MM-DD") from None


def _month(raw: str):  # noqa: ANN202 - argparse type
    from datetime import datetime

    try:
        return datetime.strptime(raw, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a month as YYYY-MM") from None


def cmd_schemas(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.contract import write_json_schemas

    args.out.mkdir(parents=True, exist_ok=True)
    names = write_json_schemas(args.out)
    print(f"wrote {len(names)} JSON Schema files to {args.out}")
    return 0


def cmd_calendar(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.calendar import settings_calendar

    cal = settings_calendar(settings)
    days = sorted([(d, "off", name) for d, name in cal.holidays.items() if d.year == args.year]
                  + [(d, "worked", name) for d, name in cal.working_days.items()
                     if d.year == args.year])
    if not days:
        print(f"ioc calendar: no holidays listed for {args.year}", file=sys.stderr)
        return 1
    for day, kind, name in days:
        mark = "  (provisional)" if cal.is_provisional(day) else ""
        print(f"{day.isoformat()} {day:%a}  {kind:<6}  {name}{mark}")
    return 0


def cmd_units(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.units import EFFECTIVE, UnitsDataset

    units = UnitsDataset()
    if args.old:
        found = units.old_unit(args.old)
        if found is None:
            print(f"ioc units: {args.old!r} was not a commune code before {EFFECTIVE:%d/%m/%Y}",
                  file=sys.stderr)
            return 1
        print(f"{found.old_code} {found.old_name_vi} ({found.district_vi}) → "
              + ", ".join(found.successors)
              + (f" (divided; main successor {found.default})" if found.divided else ""))
        return 0
    if args.province is None:
        for p in units.provinces.values():
            print(f"{p.code}  {p.name_vi:<28} {p.communes:>4} communes")
        total = sum(p.communes for p in units.provinces.values())
        print(f"{len(units.provinces)} provinces, {total} commune-level units since "
              f"{EFFECTIVE:%d/%m/%Y}", file=sys.stderr)
        return 0
    communes = units.communes(args.province)
    for u in communes:
        print(f"{u.code}  {u.kind:<7} {u.name_vi:<32} {u.lat:9.4f} {u.lon:9.4f} "
              f"{u.area_km2:8.2f} km²")
    print(f"{units.province(args.province).name_vi}: {len(communes)} units", file=sys.stderr)
    return 0


def _this_year() -> int:
    from datetime import date

    return date.today().year


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    for name, default, doc in describe():
        print(f"{name:<32} {default or '(unset)':<28} {doc}")
    return 0


def _speed(raw: str) -> float | None:
    if raw == "max":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a positive number or 'max'")
    return value


def _workers(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a whole number from 1 to 64")
    return int(raw)


def _moment(raw: str):  # noqa: ANN202 - argparse type
    from datetime import datetime

    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: expected RFC 3339 with an offset, e.g. 2026-03-02T08:00:00+07:00")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Intelligent Operations Center streaming monitor: a province's digital "
                    "public services, live on the control-room wall.",
        epilog="Settings come from IOC_* environment variables: `ioc settings` lists them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("up", help="run everything: services, migrations, worker, simulator, wall")
    p.add_argument("--for", dest="for_seconds", type=float, metavar="SECONDS",
                   help="stop by itself after this many seconds (default: until Ctrl-C)")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help="layer a scenario's incidents on the live simulation (`ioc scenarios`)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("worker", help="run the stream processor (Faust) that stores the feeds")
    p.add_argument("--replay", action="store_true",
                   help="serve the replay namespace (topics <prefix>.replay.*, "
                        "schema <schema>_replay)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dashboard", help="serve the wall (Dash) on IOC_DASHBOARD_PORT")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("simulate", help="send a simulated province's feeds to Kafka, or record")
    p.add_argument("--province", help="province: national code or file (default: IOC_PROVINCE)")
    p.add_argument("--seed", type=int,
                   help="random seed: the same seed gives the same events (default: a new one)")
    p.add_argument("--start", type=_moment, metavar="TIME",
                   help="simulated start, RFC 3339 with offset (default: now)")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X|max",
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
    p.add_argument("--backfill-hours", type=float, default=0.0, metavar="H",
                   help="first store the H hours before now straight into the database when"
                        " it holds no events yet (what ioc up does on a first start), then go"
                        " on live (default 0: none)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("scenarios", help="list the shipped incident scenarios")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("replay", help="re-send a recording in order, paced by its event times")
    p.add_argument("file", type=Path, metavar="FILE", help="a recording made with --record")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X|max",
                   help="event-time seconds per second, or max (default 1)")
    p.add_argument("--rebase", action="store_true",
                   help="move every event time so the recorded period ends as the replay "
                        "does (at speed 1: the first event happens now)")
    p.add_argument("--keep", action="store_true",
                   help="keep the previous replay's events (default: the replay schema is "
                        "emptied; its alerts always are: they are evaluated again)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("bench", help="measure speed on loopback and print the figures as JSON")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a figure misses its target (the `targets` in the JSON)")
    p.add_argument("--suite", choices=sorted(BENCH_SUITES), default="pipeline",
                   help="pipeline: stream processors (default); feeds: simulator and replay; "
                        "alerts: alert latency and catch-up; wall: dashboard refresh cost")
    p.add_argument("--json", action="store_true", help="one line of JSON (default: indented)")
    import importlib

    for module in BENCH_SUITES.values():  # each suite adds its own options
        importlib.import_module(module).add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "chaos", help="fault runs: kills, rebalances, outages, poison, notifier; JSON figures",
        description="Fault runs on loopback with their own embedded PostgreSQL and broker: "
                    "prove nothing is lost, doubled or stuck. One JSON object per scenario; "
                    "exit code 1 when any scenario misses its bar (docs/reliability.md).")
    from proof.chaos import add_arguments as add_chaos_arguments

    add_chaos_arguments(p)
    p.set_defaults(func=cmd_chaos)

    p = sub.add_parser(
        "soak", help="steady load at 10x the province for a while: worker RSS and lag",
        description="A real worker under the simulator at --multiplier times the province's "
                    "rates, in real time; samples RSS and consumer lag; exit code 1 when RSS "
                    "grows over 10 percent after the warm-up or the lag is unbounded. --up: "
                    "`ioc up` itself instead, its embedded Tansu renewed at --max-events; exit "
                    "code 1 when it is not renewed, holds far more, grows from one renewal to "
                    "the next or stops storing (docs/reliability.md).")
    from proof.soak import add_arguments as add_soak_arguments

    add_soak_arguments(p)
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("migrate", help="apply the ioc/sql/ migrations to the database")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("status", help="per feed: rows stored, newest event, consumer lag")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "backtest", help="how the alert rules fire over a recording or stored history",
        description="Evaluate the alert rules in event time over a recording (ioc simulate "
                    "--record) or over stored history, with the live sink and engine, in the "
                    "backtest namespace (<schema>_backtest; never the live alerts, never "
                    "notifies); print every alert with its state changes and a summary per "
                    "rule; --against FILE: what a second rules file fires differently. "
                    "Progress on stderr; each run is kept there under a run id.")
    p.add_argument("--recording", type=Path, help="a recording file (.jsonl.gz)")
    p.add_argument("--from", dest="since", type=_moment, help="stored history from (ISO)")
    p.add_argument("--to", dest="until", type=_moment, help="stored history to (ISO)")
    p.add_argument("--rules", type=Path, help="rules file (default: IOC_ALERT_RULES)")
    p.add_argument("--against", type=Path, help="a second rules file to compare with")
    p.add_argument("--workers", type=_workers, default=os.cpu_count() or 1, metavar="N",
                   help="processes the rules are evaluated in, split between them (default: "
                        "this machine's cores; the result is the same for any N)")
    p.add_argument("--json", action="store_true", help="print JSON (byte-identical for the "
                                                       "same input and rules)")
    p.set_defaults(func=cmd_backtest)
    p = sub.add_parser(
        "indicators", help="Decision 766/QĐ-TTg's indicators per province, centre and agency",
        description="The indicators of Decision 766/QĐ-TTg the feeds can compute (progress "
                    "and results, digitisation, online provision and payment), for the "
                    "province, each receiving centre and each agency, against the province "
                    "file's targets, over a local day (default: today so far) or a month. "
                    "No composite score: see docs/indicators.md.")
    period = p.add_mutually_exclusive_group()
    period.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="a local day")
    period.add_argument("--month", type=_month, metavar="YYYY-MM", help="a month")
    p.add_argument("--by", nargs="+", choices=("province", "centre", "agency"),
                   default=("province", "centre", "agency"), help="which scopes (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_indicators)

    p = sub.add_parser("schemas", help="export the event contract as JSON Schema files")
    p.add_argument("--out", type=Path, default=Path("docs/schemas"),
                   help="output folder (default docs/schemas under the current folder: "
                        "the tracked copy when run in the checkout)")
    p.set_defaults(func=cmd_schemas)

    p = sub.add_parser("calendar", help="a year's days off and worked Saturdays "
                                        "(IOC_PENDING_HOLIDAYS decides the pending ones)")
    p.add_argument("--year", type=int, default=_this_year(), help="default: this year")
    p.set_defaults(func=cmd_calendar)

    p = sub.add_parser("units", help="the 34 provinces and their communes since 1/7/2025 "
                                     "(national codes, from the pinned dataset)")
    p.add_argument("--province", metavar="CODE", help="list this province's communes (e.g. 38)")
    p.add_argument("--old", metavar="CODE", help="where a pre-2025 commune code went")
    p.set_defaults(func=cmd_units)

    p = sub.add_parser("settings", help="list every IOC_* setting with its default")
    p.set_defaults(func=cmd_settings)

    from streams.alerts.cli import add_alert_commands  # alerter, notifier, `ioc alerts ...`

    add_alert_commands(sub)
    from ioc_dashboard.users import add_user_commands  # `ioc wall-user add|disable`

    add_user_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ioc.services.postgres import with_secrets

        settings = with_secrets(Settings.from_env())  # the embedded database's passwords
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # kafka-python narrates every connection at INFO
        logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(
            settings.log_level)))
        return args.func(args, settings)
    except IocError as exc:
        print(f"ioc {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
