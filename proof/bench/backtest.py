"""`ioc bench --suite backtest`: how long `ioc backtest` takes, from a recording to the alert
list, printed as JSON.

A recording of Thanh Hóa from Monday 2/3/2026 at 00:00 (Vietnam) for `--backtest-hours`
hours, with a scenario starting at 09:00 (default `bad-afternoon`), is written as `ioc
simulate --record` writes it; then the backtest runs on it exactly as the command does
(embedded PostgreSQL, a namespace of its own): the time to store the events, the time to
evaluate the shipped rules, both together, and the rates. Issue 16's target: a 24-hour day
in 60 s or less.

`--backtest-days D` measures the other target instead, D days of stored history (30 days in
10 minutes or less): the days before Monday 2/3/2026 are generated into a schema of their own
at the province's volumes (the wall bench's `generate_series` statements, not the
simulator: minutes instead of an hour), then `ioc backtest --from --to` copies and evaluates
them.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ioc.calendar import load_calendar
from ioc.db import connect
from ioc.errors import ServiceError
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.refusals import reason_label
from ioc.resources import ALERT_RULES_DIR
from ioc.settings import Settings
from ioc.units import UnitsDataset
from proof.harness import Namespaces, services
from simulators.generator import ProvinceSimulator
from simulators.recording import RecordingWriter, read_records
from simulators.scenarios import load_scenario, resolve, scenario_path
from streams.alerts import backtest
from streams.alerts.rules import load_rules

MIDNIGHT = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # Monday 2/3/2026 00:00 in Vietnam
SCENARIO_AT = timedelta(hours=9)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ioc bench --suite backtest` (added to the bench parser)."""
    parser.add_argument("--backtest-hours", type=float, default=24.0, metavar="H",
                        help="backtest: hours of the recorded day (default 24)")
    parser.add_argument("--backtest-scenario", default="bad-afternoon", metavar="NAME",
                        help="backtest: scenario from 09:00 (default bad-afternoon)")
    parser.add_argument("--backtest-days", type=float, default=None, metavar="D",
                        help="backtest: D days of stored history instead of a recording"
                             " (the 30-day target)")
    parser.add_argument("--backtest-workers", type=int, default=os.cpu_count() or 1,
                        metavar="N", help="backtest: processes evaluating the rules"
                                          " (default: this machine's cores)")


def record(path: Path, settings: Settings, hours: float, scenario: str) -> int:
    """Write the recording; return how many events it holds."""
    province = load_province(settings.province_file)
    start = MIDNIGHT.timestamp()
    incidents = resolve(load_scenario(scenario_path(scenario)), province,
                        start + SCENARIO_AT.total_seconds(), scenario)
    sim = ProvinceSimulator(province, seed=1, incidents=incidents)
    writer = RecordingWriter(path, {"seed": 1, "scenario": scenario, "bench": "backtest"},
                             settings)
    try:
        end = MIDNIGHT + timedelta(hours=hours)
        t = MIDNIGHT
        while t < end:  # an hour at a time: a day is over half a million events
            nxt = min(end, t + timedelta(hours=1))
            writer.send(sim.events_between(t, nxt))
            t = nxt
    finally:
        writer.close()
    return writer.written


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Measure; return the figures (printed as JSON by `ioc bench`)."""
    import logging

    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services", "streams.alerts.engine"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    hours = getattr(args, "backtest_hours", 24.0)
    scenario = getattr(args, "backtest_scenario", "bad-afternoon")
    days = getattr(args, "backtest_days", None)
    workers = getattr(args, "backtest_workers", os.cpu_count() or 1)
    if not 0 < hours <= 24 * 31:
        raise ServiceError("bench: --backtest-hours must be above 0 and at most 744")
    if days is not None and not 0 < days <= 31:
        raise ServiceError("bench: --backtest-days must be above 0 and at most 31")
    if not 1 <= workers <= 64:
        raise ServiceError("bench: --backtest-workers must be from 1 to 64")
    rules = load_rules(ALERT_RULES_DIR / "default.yaml")
    if days is not None:
        return run_history(settings, rules, days, workers)
    with tempfile.TemporaryDirectory(prefix="ioc-bench-backtest-") as tmp_name, \
            services(settings, Path(tmp_name)) as base, Namespaces(base, "bench") as spaces:
        path = Path(tmp_name) / "day.jsonl.gz"
        began = time.perf_counter()
        events = record(path, base, hours, scenario)
        recorded = time.perf_counter() - began
        s = spaces.fresh("backtest")
        province = load_province(s.province_file)
        timings: dict[str, float] = {}
        log = io.StringIO()  # progress lines, not printed: the figures are the output
        began = time.perf_counter()
        _, result = backtest.run(
            s.database_url, s.db_schema, s.db_schema, rules, None, province, load_calendar(),
            KnownCodes(province, UnitsDataset()), recording=(str(path), read_records(path)),
            label=reason_label, out=log, timings=timings, workers=workers)
        total = time.perf_counter() - began
    event_seconds = hours * 3600
    return {
        "suite": "backtest", "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hours": hours, "scenario": scenario, "workers": workers, "events": events,
        "stored": result["events"]["stored"],
        "refused": sum(result["events"]["refused"].values()),
        "rules_evaluated": len(rules.rules) - len(result["left_out"]),
        "alerts": len(result["alerts"]),
        "seconds": {"record": round(recorded, 2), "store": round(timings["store"], 2),
                    "evaluate": round(timings["evaluate"], 2), "backtest": round(total, 2)},
        "events_stored_per_second": round(result["events"]["stored"] / timings["store"]),
        "event_seconds_per_wall_second": round(event_seconds / timings["evaluate"], 1),
        "targets": {"day_seconds_max": 60,
                    "day_met": total * 24 / hours <= 60},
    }


def run_history(settings: Settings, rules, days: float, workers: int) -> dict:
    """`days` of generated history before Monday 2/3/2026, backtested from storage."""
    from proof.bench.wall import generate

    until = MIDNIGHT
    since = until - timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="ioc-bench-backtest-") as tmp_name, \
            services(settings, Path(tmp_name)) as base, Namespaces(base, "bench") as spaces:
        live, s = spaces.fresh("history"), spaces.fresh("backtest")
        province = load_province(s.province_file)
        began = time.perf_counter()
        with connect(live.database_url, live.db_schema, autocommit=True) as conn:
            rows = generate(conn, province, since, until)
        generated = time.perf_counter() - began
        timings: dict[str, float] = {}
        began = time.perf_counter()
        _, result = backtest.run(
            s.database_url, s.db_schema, live.db_schema, rules, None, province,
            load_calendar(), KnownCodes(province, UnitsDataset()), since=since, until=until,
            out=io.StringIO(), timings=timings, workers=workers)
        total = time.perf_counter() - began
    return {
        "suite": "backtest", "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "days": days, "history": "generated (wall bench volumes)", "workers": workers,
        "events": sum(rows.values()), "stored": result["events"]["stored"],
        "rules_evaluated": len(rules.rules) - len(result["left_out"]),
        "alerts": len(result["alerts"]),
        "seconds": {"generate": round(generated, 2), "copy": round(timings["store"], 2),
                    "evaluate": round(timings["evaluate"], 2), "backtest": round(total, 2)},
        "event_seconds_per_wall_second": round(days * 86400 / timings["evaluate"], 1),
        "targets": {"month_seconds_max": 600, "month_met": total * 30 / days <= 600},
    }
