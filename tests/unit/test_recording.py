"""Recordings and replay pacing, without a broker."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR, Settings
from simulators.generator import ProvinceSimulator, Record
from simulators.recording import RecordingWriter, read_header, read_records
from simulators.replay import rebase, rebase_shift, replay
from simulators.run import run_simulation

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Collect:
    def __init__(self):
        self.records = []

    def send(self, records):
        self.records.extend(records)
        return len(records)


def _record(path, seed=9, minutes=20):
    sim = ProvinceSimulator(load_province(PROVINCES_DIR / "thanh-hoa.yaml"), seed=seed)
    writer = RecordingWriter(path, {"seed": seed}, Settings())
    seen = Collect()
    try:
        n = run_simulation(sim, [writer, seen], threading.Event(), START.timestamp(),
                           minutes * 60, None)
    finally:
        writer.close()
    return n, seen.records


def test_same_seed_gives_an_identical_recording(tmp_path):
    n1, _ = _record(tmp_path / "a.gz")
    n2, _ = _record(tmp_path / "b.gz")
    _, _ = _record(tmp_path / "c.gz", seed=10)
    assert n1 == n2 > 1000
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert (tmp_path / "a.gz").read_bytes() != (tmp_path / "c.gz").read_bytes()


def test_recording_reads_back_exactly_what_was_sent(tmp_path):
    n, sent = _record(tmp_path / "a.gz")
    assert read_header(tmp_path / "a.gz")["seed"] == 9
    assert list(read_records(tmp_path / "a.gz")) == sent
    assert len(sent) == n
    times = [r.send_time for r in sent]
    assert times == sorted(times) and times[0] >= START.timestamp()
    assert times[-1] < (START + timedelta(minutes=20)).timestamp()


def test_rebase_moves_every_time_and_keeps_events_valid(tmp_path):
    _, sent = _record(tmp_path / "a.gz")
    received = next(r for r in sent if b'"dossier.received"' in r.value)
    shift = timedelta(days=30, minutes=7)
    moved = rebase(received, shift.total_seconds())
    now = datetime.fromtimestamp(moved.event_time + 1, UTC)
    before = contract.decode(received.value, "portal", now)
    after = contract.decode(moved.value, "portal", now)
    assert after.occurred_at == before.occurred_at + shift
    assert moved.event_time == pytest.approx(after.occurred_at.timestamp(), abs=1e-6)
    assert after.data.due_at == before.data.due_at + shift
    assert after.event_id == before.event_id


@pytest.mark.parametrize("speed", [0.5, 1.0, 10.0, None])
def test_a_rebased_replay_never_sends_an_event_from_the_future(speed):
    first, last, now = 1_000.0, 1_600.0, 50_000.0  # a 10-minute recording replayed at `now`
    shift = rebase_shift(first, last, now, speed)
    for t in (first, 1_300.0, last):
        sent_at = now + ((t - first) / speed if speed else 0.0)
        assert t + shift <= sent_at + 1e-9
    end = now + ((last - first) / speed if speed else 0.0)
    if speed is None or speed >= 1:
        assert last + shift == pytest.approx(end)  # the recorded period ends as the replay does
    if speed is not None and speed <= 1:
        assert first + shift == now  # the first event happens now


def test_replay_keeps_order_and_paces_by_event_time():
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    sim = ProvinceSimulator(load_province(PROVINCES_DIR / "hung-yen.yaml"), seed=2)
    records = sim.events_between(t0, t0 + timedelta(seconds=10))
    out = Collect()
    started = time.monotonic()
    assert replay(records, out, threading.Event(), speed=20) == len(records)
    assert time.monotonic() - started >= 0.45  # 10 s of event time at 20x
    assert out.records == records
    out = Collect()
    replay(records, out, threading.Event(), speed=None)
    assert out.records == records


def test_a_file_that_is_not_a_recording_is_refused(tmp_path):
    plain = tmp_path / "x.gz"
    plain.write_bytes(b"not gzip")
    with pytest.raises(SettingsError, match="not an IOC recording"):
        read_header(plain)
    other = tmp_path / "y.gz"
    with gzip.open(other, "wt") as f:
        f.write('{"format": "ioc-recording", "version": 99}\n')
    with pytest.raises(SettingsError, match="version 99 is not supported"):
        read_header(other)


def test_malformed_bytes_are_recorded_and_read_back_exactly(tmp_path):
    bad = [Record("payments", b"bad", b"\xff\xfe{not json", 1.5),
           Record("portal", b"k", '{"ok":"\u0111"}'.encode(), 2.5, sent_at=3.0)]
    writer = RecordingWriter(tmp_path / "bad.gz", {"seed": 1}, Settings())
    writer.send(bad)
    writer.close()
    assert list(read_records(tmp_path / "bad.gz")) == bad
    assert rebase(bad[0], 10).value == bad[0].value  # malformed input replays as recorded
