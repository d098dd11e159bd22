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

import psutil
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


def _rss_mb(pid: int) -> float:
    """Resident memory of the worker and its children, in MB."""
    proc = psutil.Process(pid)
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
