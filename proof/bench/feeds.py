"""`ioc bench --suite feeds`: how fast the simulator generates and sends a province's feeds,
and how fast a recorded day replays, on loopback (embedded broker unless one is configured).

Figures: generation alone, generation + producer to the broker (flushed, i.e. acknowledged),
a recording written at max speed, and that recording replayed to the broker at max speed.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

from ioc.province import load_province
from ioc.settings import Settings
from ioc.topics import ensure_topics
from proof.harness import services
from simulators.generator import ProvinceSimulator
from simulators.producer import FeedProducer
from simulators.recording import RecordingWriter, read_records
from simulators.replay import replay
from simulators.run import run_simulation

log = logging.getLogger(__name__)

START = datetime.fromisoformat("2026-03-02T00:00:00+07:00").timestamp()  # a working Monday


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim-hours", type=float, default=24.0, metavar="H",
                        help="feeds: simulated hours of the province day (default 24)")
    parser.add_argument("--national-hours", type=float, default=1.0, metavar="H",
                        help="feeds: simulated hours at national scale, x63 (default 1; 0 skips)")


class _Null:
    def send(self, records: list) -> int:
        return len(records)


def _simulate(settings: Settings, seconds: float, multiplier: float, emitter) -> dict:  # noqa: ANN001
    sim = ProvinceSimulator(load_province(settings.province_file), seed=1, multiplier=multiplier)
    began = time.perf_counter()
    sim.start(START)  # the warm-up (dossiers already in progress), once per run: apart
    warm = time.perf_counter() - began
    began = time.perf_counter()
    n = run_simulation(sim, [emitter], threading.Event(), START, seconds, None)
    if isinstance(emitter, FeedProducer):
        emitter.flush()
    elif isinstance(emitter, RecordingWriter):
        emitter.close()
    took = time.perf_counter() - began
    return {"events": n, "seconds": round(took, 3), "events_per_s": round(n / took),
            "warm_up_seconds": round(warm, 3)}


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Measure the feeds; return the figures (printed as JSON by `ioc bench`)."""
    hours = getattr(args, "sim_hours", 24.0)
    national = getattr(args, "national_hours", 1.0)
    for quiet in ("ioc.topics", "ioc.services", "simulators.run"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="ioc-bench-feeds-") as tmp, \
            services(settings, Path(tmp), database=False) as with_broker:
        bootstrap = with_broker.kafka_bootstrap
        live = settings.with_(topic_prefix=f"benchfeeds{tag}", kafka_bootstrap=bootstrap)
        again = settings.with_(topic_prefix=f"benchfeeds{tag}.replay", kafka_bootstrap=bootstrap)
        for s in (live, again):
            ensure_topics(s, bootstrap)
        seconds = hours * 3600
        generate = _simulate(live, seconds, 1.0, _Null())
        produce = _simulate(live, seconds, 1.0, FeedProducer(live, bootstrap))
        recording = Path(tmp) / "day.jsonl.gz"
        record = _simulate(live, seconds, 1.0, RecordingWriter(recording, {"seed": 1}, live))
        record["bytes"] = recording.stat().st_size
        producer = FeedProducer(again, bootstrap)
        began = time.perf_counter()
        replayed = replay(read_records(recording), producer, threading.Event(), speed=None)
        producer.flush()
        took = time.perf_counter() - began
        figures = {
            "suite": "feeds",
            "province": load_province(settings.province_file).province.code,
            "simulated_hours": hours,
            "generate_only": generate,
            "generate_and_produce": produce,
            "record_only": record,
            "replay_max_speed": {"events": replayed, "seconds": round(took, 3),
                                 "events_per_s": round(replayed / took)},
        }
        if national > 0:
            figures["national_x63_generate_and_produce"] = {
                "simulated_hours": national,
                **_simulate(live, national * 3600, 63.0, FeedProducer(live, bootstrap))}
    figures["targets"] = {
        "generate_and_produce_events_per_s_min": 100_000,
        "replay_24h_seconds_max": 60,
        "generate_and_produce_met": produce["events_per_s"] >= 100_000,
        "replay_met": hours < 24 or took <= 60,
    }
    return figures
