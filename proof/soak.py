"""`ioc soak`: a steady province-shaped load for a while, watching the worker's memory and lag.

One process tree on loopback (embedded PostgreSQL and Tansu unless IOC_DATABASE_URL /
IOC_KAFKA_BOOTSTRAP are set): a real `ioc worker` and a real `ioc simulate` at
`--multiplier` times Thanh Hóa's rates (10 by default), in real time (speed 1) from a
working Monday 09:00 so the load is a busy hour's, not a night's. Every `--sample-seconds`
it records the worker's resident memory, the consumer lag and the rows stored.

Bars: after the warm-up (the first fifth of the run, at least 20 s) the worker's RSS grows
by at most 10 %, and the lag stays bounded (never above ten seconds' worth of the run's
mean event rate, at least 500 events). `ioc soak` exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from kafka.errors import KafkaError

from ioc.errors import ServiceError
from ioc.settings import Settings
from ioc.status import consumer_lag
from proof.harness import Namespaces, services, start_part, start_worker, stored_count

log = logging.getLogger(__name__)

SOAK_START = "2026-03-02T09:00:00+07:00"   # a working Monday, office hours
RSS_GROWTH_BAR = 0.10
LAG_BOUND_SECONDS = 10.0
MIN_LAG_BOUND = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=30.0, metavar="M",
                        help="how long the load runs (default 30)")
    parser.add_argument("--multiplier", type=float, default=10.0, metavar="X",
                        help="times the province's rates (default 10)")
    parser.add_argument("--sample-seconds", type=float, default=5.0, metavar="S",
                        help="how often RSS and lag are sampled (default 5)")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    parser.add_argument("--up", action="store_true",
                        help="soak `ioc up` itself on its embedded services instead: the "
                        "embedded Tansu's memory and the events it holds, renewed at "
                        "--max-events (the simulator at --multiplier times the province)")
    parser.add_argument("--max-events", type=int, default=40_000, metavar="N",
                        help="with --up: IOC_TANSU_MAX_EVENTS of the run (default 40000)")


def _psutil() -> Any:
    """psutil, which the `proof` extra installs: the soak samples processes with it (imported
    here, not at the top: `ioc --help` builds this command's parser without it)."""
    try:
        import psutil
    except ImportError:
        raise ServiceError("ioc soak samples processes with psutil, which is not installed: "
                           "pip install 'ioc-monitor[proof]' (`make` installs it)") from None
    return psutil


def _rss_mb(pid: int) -> float:
    """Resident memory of the worker and its children, in MB."""
    proc = _psutil().Process(pid)
    return sum(p.memory_info().rss for p in (proc, *proc.children(recursive=True))) / 2**20


def verdict(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The bars over the samples (pure: the unit tests feed it numbers)."""
    warmup = max(20.0, seconds / 5)
    after = [s for s in samples if s["t"] >= warmup]
    if len(after) < 2:
        return {"warmup_seconds": warmup, "ok": False,
                "why": "too few samples after the warm-up: run longer"}
    base = after[0]["rss_mb"]
    tail = max(s["rss_mb"] for s in after[-3:])
    growth = tail / base - 1
    stored = after[-1]["stored"] - samples[0]["stored"]
    rate = stored / max(1e-9, after[-1]["t"] - samples[0]["t"])
    bound = max(MIN_LAG_BOUND, round(rate * LAG_BOUND_SECONDS))
    lags = [s["lag"] for s in after if s["lag"] is not None]
    worst = max(lags, default=None)
    return {"warmup_seconds": warmup, "rss_after_warmup_mb": round(base, 1),
            "rss_end_mb": round(tail, 1), "rss_growth": round(growth, 4),
            "mean_events_per_s": round(rate, 1), "lag_bound": bound, "lag_max": worst,
            "lag_end": lags[-1] if lags else None,
            "ok": growth <= RSS_GROWTH_BAR and worst is not None and worst <= bound}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the soak; print its figures as JSON; 0 when the bars hold, else 1."""
    import json

    if args.minutes <= 0 or args.multiplier <= 0 or args.sample_seconds <= 0:
        raise ServiceError("soak: --minutes, --multiplier and --sample-seconds must be > 0")
    _psutil()  # before any service starts
    if args.up:
        return run_up(args, settings)
    for quiet in ("ioc.migrate", "ioc.topics", "ioc.services", "kafka"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="ioc-soak-") as tmp, \
            services(settings, Path(tmp)) as base, Namespaces(base, "soak") as spaces:
        s = spaces.fresh("run", data_dir=Path(tmp))
        worker = start_worker(s, Path(tmp), "soak-worker")
        simulator = start_part(s, Path(tmp), "soak-simulator", "simulate", "--seed", "1",
                               "--start", SOAK_START, "--speed", "1",
                               "--duration", str(seconds),
                               "--rate-multiplier", str(args.multiplier))
        samples: list[dict[str, Any]] = []
        began = time.monotonic()
        try:
            while (t := time.monotonic() - began) < seconds:
                for part in (worker, simulator):
                    part.raise_if_exited()
                try:
                    lag = sum(v for v in consumer_lag(s, s.kafka_bootstrap).values() if v)
                except KafkaError as exc:
                    log.warning("soak: lag unknown: %s", exc)
                    lag = None
                samples.append({"t": round(t, 1), "rss_mb": round(_rss_mb(worker.pid), 1),
                                "lag": lag, "stored": stored_count(s)})
                print(f"soak: {t:5.0f} s  rss {samples[-1]['rss_mb']:6.1f} MB  lag {lag}  "
                      f"stored {samples[-1]['stored']}", file=sys.stderr, flush=True)
                time.sleep(max(0.0, args.sample_seconds - (time.monotonic() - began - t)))
        finally:
            simulator.stop()
            worker.stop()
    figures = {"suite": "soak", "minutes": args.minutes, "multiplier": args.multiplier,
               "simulated_start": SOAK_START, **verdict(samples, seconds),
               "samples": samples}
    print(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2))
    return 0 if figures["ok"] else 1


# ioc up looks at the embedded Tansu this often (ioc_command/up.py; proof sits below the
# command in the house's floors, so the figure is repeated here)
TANSU_CHECK_SECONDS = 15.0


def up_verdict(samples: list[dict[str, Any]], max_events: int, renewals: int,
               rate: float) -> dict[str, Any]:
    """The bars of `ioc soak --up` (pure): Tansu renewed at least once, never holding much
    more than its bound (it is looked at every 15 s: up to two looks' worth of events over),
    and its memory no higher in the last cycle than in the first (it does not grow)."""
    held = [s["held"] for s in samples if s["held"] is not None]
    over = max_events + round(rate * 2 * TANSU_CHECK_SECONDS) + 1000
    cycles: list[list[float]] = [[]]
    for before, after in zip(samples, samples[1:], strict=False):
        cycles[-1].append(before["tansu_rss_mb"])
        if after["renewals"] > before["renewals"]:
            cycles.append([])
    first, last = max(cycles[0], default=0.0), max(cycles[-1], default=0.0)
    # after the last renewal, events went on being stored (through the new broker)
    renewed = [s for s in samples if s["renewals"] == renewals and s["stored"] is not None]
    stored_after = renewed[-1]["stored"] - renewed[0]["stored"] if len(renewed) > 1 else 0
    return {"renewals": renewals, "held_max": max(held, default=None), "held_bound": over,
            "tansu_rss_first_cycle_max_mb": first, "tansu_rss_last_cycle_max_mb": last,
            "stored_after_last_renewal": stored_after,
            "ok": renewals >= 1 and bool(held) and max(held) <= over and stored_after > 0
            and (len(cycles) < 3 or last <= first * 1.25)}


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    """`ioc soak --up`: `ioc up` on its embedded services for --minutes, its simulator at
    --multiplier times the province, IOC_TANSU_MAX_EVENTS at --max-events; samples the
    Tansu process's memory and the events it holds. 0 when the bars hold."""
    psutil = _psutil()
    import json
    import os
    import subprocess

    from ioc.services.postgres import embedded_url
    from ioc.status import records_held
    from proof.harness import up_ports

    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="ioc-soak-up-") as tmp:
        ports = up_ports()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        env.update(ports, IOC_DATA_DIR=str(Path(tmp) / "data"),
                   IOC_BACKFILL_HOURS="0", IOC_TANSU_MAX_EVENTS=str(args.max_events),
                   IOC_SIMULATOR_RATE=f"{args.multiplier:g}", PYTHONUNBUFFERED="1")
        out, err = Path(tmp) / "up.out", Path(tmp) / "up.err"
        with out.open("w") as sink, err.open("w") as errors:
            up = subprocess.Popen([sys.executable, "-P", "-m", "ioc_command.cli", "up", "--for",
                                   f"{seconds:g}"], env=env, cwd=tmp, stdout=sink,
                                  stderr=errors)
            bootstrap = f"127.0.0.1:{ports['IOC_EMBEDDED_KAFKA_PORT']}"
            samples: list[dict[str, Any]] = []
            began = time.monotonic()
            try:
                while up.poll() is None:
                    time.sleep(args.sample_seconds)
                    t = time.monotonic() - began
                    try:
                        tansu = [p for p in psutil.Process(up.pid).children(recursive=True)
                                 if p.name() == "tansu"]
                        rss = tansu[0].memory_info().rss / 2**20 if tansu else None
                    except psutil.NoSuchProcess:  # renewed under our look
                        rss = None
                    if rss is None:
                        continue  # starting, being renewed, or stopping
                    try:
                        held = records_held(bootstrap)
                    except KafkaError:
                        held = None
                    renewals = out.read_text().count("Renewed the embedded Tansu")
                    db = settings.with_(db_schema="ioc", database_url=embedded_url(
                        Path(tmp) / "data", int(ports["IOC_EMBEDDED_DB_PORT"])))
                    try:
                        stored = stored_count(db)
                    except (psycopg.Error, ServiceError):
                        stored = None
                    samples.append({"t": round(t, 1), "held": held, "renewals": renewals,
                                    "tansu_rss_mb": round(rss, 1), "stored": stored})
                    print(f"soak --up: {t:5.0f} s  Tansu {samples[-1]['tansu_rss_mb']:6.1f} MB"
                          f"  holds {held}  renewed {renewals}  stored {stored}",
                          file=sys.stderr, flush=True)
            finally:
                if up.poll() is None:
                    up.terminate()
                up.wait(120)
        said = out.read_text()
        why = err.read_text()[-2000:] if up.returncode else None
    renewals = said.count("Renewed the embedded Tansu")
    # the fastest the broker filled between two looks (its bound's margin)
    rate = max(((b["held"] - a["held"]) / (b["t"] - a["t"])
                for a, b in zip(samples, samples[1:], strict=False)
                if a["held"] is not None and b["held"] is not None
                and b["renewals"] == a["renewals"] and b["t"] > a["t"]), default=0.0)
    figures = {"suite": "soak-up", "minutes": args.minutes, "multiplier": args.multiplier,
               "max_events": args.max_events, "ioc_up_exit": up.returncode,
               "events_per_s_max": round(rate, 1),
               **up_verdict(samples, args.max_events, renewals, rate),
               "renewed": [line for line in said.splitlines() if "Renewed" in line],
               "samples": samples}
    if why:
        figures["ioc_up_error"] = why
    figures["ok"] = figures["ok"] and up.returncode == 0
    print(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2))
    return 0 if figures["ok"] else 1
