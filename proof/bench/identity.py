"""`ioc bench --suite identity`: a whole simulated day through the live path and through
`ioc backtest` raises the same alerts (issue 16, item 3, as a command; the suite holds a
twelve-minute version in tests/integration/test_alert_replay.py).

Thanh Hóa from Monday 2/3/2026 00:00 (Vietnam) for `--identity-hours` hours, with a scenario
from 09:00, is simulated paced at `--identity-speed` times real time into the broker, stored
by a real `ioc worker` and evaluated by a real `ioc alerter` in live mode, while it is
recorded; then the recording is backtested. Printed as JSON: the firing episodes (rule,
labels, start, end) of each up to the live engine's last step, and those only one of them
has (the promise: none). Pipeline rules and the watchdog (wall time) are left out of both.
The live engine's lateness is set to what the pace needs (the worker's skew between
partitions, about 0.75 s of wall time, in event time), and a scenario's late resend is left
out: data later than the lateness is, by design, not what the live engine saw.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from ioc.calendar import load_calendar
from ioc.db import connect
from ioc.errors import ServiceError
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.refusals import reason_label
from ioc.resources import ALERT_RULES_DIR
from ioc.settings import Settings
from ioc.units import UnitsDataset
from proof.bench.backtest import MIDNIGHT, SCENARIO_AT
from proof.harness import Namespaces, services, start_part, wait_for
from simulators.recording import read_records
from simulators.scenarios import scenario_path, seconds
from streams.alerts import backtest
from streams.alerts.rules import load_rules

SKEW_WALL_SECONDS = 0.75  # the worker's batching skew between partitions, wall time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ioc bench --suite identity` (added to the bench parser)."""
    parser.add_argument("--identity-hours", type=float, default=24.0, metavar="H",
                        help="identity: hours simulated from Monday 00:00 (default 24)")
    parser.add_argument("--identity-speed", type=float, default=100.0, metavar="X",
                        help="identity: pace of the live run, times real time (default 100:"
                             " a day in about 15 minutes)")


def episodes_of_transitions(rows: list[tuple]) -> set[tuple]:
    """(rule, labels JSON, starts_at, ends_at or None) from transitions in order."""
    open_: dict[tuple, str] = {}
    done = set()
    for rule, labels, to_state, at in rows:
        key = (rule, json.dumps(labels, sort_keys=True, ensure_ascii=False))
        if to_state == "firing" and key not in open_:
            open_[key] = at.isoformat()
        elif to_state == "resolved" and key in open_:
            done.add((*key, open_.pop(key), at.isoformat()))
    return done | {(*key, starts, None) for key, starts in open_.items()}


def episodes_of_backtest(result: dict, cutoff: datetime) -> set[tuple]:
    """The same, from `ioc backtest --json`, cut where the live engine stopped."""
    return {(a["rule"], json.dumps(a["labels"], sort_keys=True, ensure_ascii=False),
             e["starts_at"],
             e["ends_at"] if e["ends_at"] and datetime.fromisoformat(e["ends_at"]) <= cutoff
             else None)
            for a in result["alerts"] for e in a["episodes"]
            if datetime.fromisoformat(e["starts_at"]) <= cutoff}


def _files(tmp: Path, speed: float, scenario: str) -> tuple[Path, Path]:
    """The rules (event-time rules, lateness for the pace) and the scenario from 09:00."""
    rules = yaml.safe_load((ALERT_RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    # what a backtest evaluates: not the rules that watch the running system
    rules["rules"] = {n: r for n, r in rules["rules"].items()
                      if r["kind"] not in ("pipeline", "watchdog")}
    rules["evaluation"]["lateness_seconds"] = max(
        rules["evaluation"]["lateness_seconds"], round(SKEW_WALL_SECONDS * speed, 1))
    rules_path = tmp / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    data = yaml.safe_load(scenario_path(scenario).read_text(encoding="utf-8"))
    data["incidents"] = [
        {**i, "at": seconds(i["at"]) + SCENARIO_AT.total_seconds()}
        for i in data["incidents"] if i.get("then") != "resend"]
    scenario_file = tmp / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return rules_path, scenario_file


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Run both ways and compare; return the figures (printed as JSON by `ioc bench`)."""
    hours = getattr(args, "identity_hours", 24.0)
    speed = getattr(args, "identity_speed", 100.0)
    if not 0 < hours <= 24 * 7:
        raise ServiceError("bench: --identity-hours must be above 0 and at most 168")
    if not 1 <= speed <= 1000:
        raise ServiceError("bench: --identity-speed must be from 1 to 1000")
    with tempfile.TemporaryDirectory(prefix="ioc-bench-identity-") as tmp_name, \
            services(settings, Path(tmp_name)) as base, \
            Namespaces(base.with_(data_dir=Path(tmp_name)), "bench") as spaces:
        tmp = Path(tmp_name)
        rules_path, scenario_file = _files(tmp, speed, "bad-afternoon")
        live = spaces.fresh("live", alert_rules=rules_path)
        parts = [start_part(live, tmp, "worker", "worker")]
        began = time.perf_counter()
        try:
            parts.append(start_part(live, tmp, "alerter", "alerter"))
            recording = tmp / "day.jsonl.gz"
            done = subprocess.run(
                [sys.executable, "-m", "ioc_command.cli", "simulate", "--start",
                 MIDNIGHT.isoformat(), "--speed", str(speed), "--duration", str(hours * 3600),
                 "--seed", "1", "--scenario", str(scenario_file), "--record", str(recording)],
                env=live.child_env(), capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise ServiceError(f"bench: ioc simulate failed: {done.stderr[-2000:]}")
            last = datetime.fromtimestamp(max(r.event_time for r in read_records(recording)),
                                          UTC)
            lateness = timedelta(seconds=load_rules(rules_path).evaluation.lateness_seconds)

            def step_at() -> datetime | None:
                with connect(live.database_url, live.db_schema, autocommit=True) as conn:
                    row = conn.execute("SELECT step_at FROM alert_engine_state").fetchone()
                return row[0] if row else None

            def caught_up() -> bool:
                for part in parts:
                    if part.exit_code() is not None:
                        raise ServiceError(f"bench: {part.name} exited: {part.log_tail(80)}")
                return (step_at() or MIDNIGHT) >= last - lateness - timedelta(seconds=5)

            try:
                wait_for(caught_up, 300, "the live alerter's last step")
            except ServiceError as exc:
                raise ServiceError(f"{exc}; it stands at {step_at()}, the last event at {last};"
                                   f" its log:\n{parts[1].log_tail(20)}") from None
        finally:
            for part in reversed(parts):
                part.stop()
        live_seconds = time.perf_counter() - began
        cutoff = step_at()
        with connect(live.database_url, live.db_schema, autocommit=True) as conn:
            got_live = episodes_of_transitions(conn.execute(
                "SELECT rule, labels, to_state, at FROM alert_transitions WHERE at <= %s"
                " ORDER BY id", (cutoff,)).fetchall())
        bt = spaces.fresh("backtest")
        province = load_province(bt.province_file)
        began = time.perf_counter()
        _, result = backtest.run(
            bt.database_url, bt.db_schema, bt.db_schema, load_rules(rules_path), None,
            province, load_calendar(), KnownCodes(province, UnitsDataset()),
            recording=(str(recording), read_records(recording)),
            label=reason_label, out=io.StringIO())
        backtest_seconds = time.perf_counter() - began
    got_backtest = episodes_of_backtest(result, cutoff)
    only_live, only_backtest = sorted(got_live - got_backtest), sorted(got_backtest - got_live)
    return {
        "suite": "identity", "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hours": hours, "speed": speed, "lateness_seconds": lateness.total_seconds(),
        "events": result["events"]["stored"] + sum(result["events"]["refused"].values()),
        "cutoff": cutoff.isoformat(), "episodes": len(got_live),
        "episodes_by_rule": _by_rule(got_live),
        "only_live": [list(e) for e in only_live],
        "only_backtest": [list(e) for e in only_backtest],
        "seconds": {"live": round(live_seconds, 1), "backtest": round(backtest_seconds, 1)},
        "targets": {"identical_met": not only_live and not only_backtest},
    }


def _by_rule(episodes: set[tuple]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rule, *_ in episodes:
        out[rule] = out.get(rule, 0) + 1
    return dict(sorted(out.items()))
