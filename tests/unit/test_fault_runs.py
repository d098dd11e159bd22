"""Pure parts of the fault runs: the poison events break the contract the way they say, and
the soak's bars over RSS and lag samples."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.errors import ContractError
from ioc.known_codes import KnownCodes
from ioc.refusals import reason_label
from ioc.services.process import ManagedProcess
from ioc.units import UnitsDataset
from proof.crashes import crash_in_log, crash_reports
from proof.harness import POISON_KINDS, THANH_HOA, make_events, poison_event
from proof.soak import up_verdict, verdict

CODES = KnownCodes(THANH_HOA, UnitsDataset())


@pytest.mark.parametrize("kind", sorted(POISON_KINDS))
def test_each_poison_kind_is_refused_with_its_reason(kind):
    now = datetime.now(UTC)
    feed, _, raw = poison_event(kind, random.Random(3), now - timedelta(seconds=30), f"p-{kind}-1")
    with pytest.raises(ContractError) as refused:
        CODES.check(contract.decode(raw, feed, now))
    assert reason_label(str(refused.value)) == POISON_KINDS[kind]


def test_the_poison_kinds_cover_every_reason_of_the_contract():
    reasons = {"undecodable", "oversize", "missing_event_type", "unknown_event_type",
               "unknown_schema_version", "invalid_field", "future_timestamp", "wrong_feed",
               "duplicate_key", "unknown_unit", "unknown_hospital"}
    assert set(POISON_KINDS.values()) == reasons


def test_the_valid_events_of_the_benches_name_only_the_provinces_codes():
    now = datetime.now(UTC)
    events = make_events(3000, seed=5, start=now - timedelta(hours=1))
    for feed, _, raw in events:
        CODES.check(contract.decode(raw, feed, now))
    assert {feed for feed, _, _ in events} == set(contract.FEEDS)


def _samples(rss: list[float], lag: list[int], every: float = 5.0, rate: float = 100.0):
    return [{"t": i * every, "rss_mb": r, "lag": g, "stored": int(i * every * rate)}
            for i, (r, g) in enumerate(zip(rss, lag, strict=True))]


def test_soak_passes_flat_memory_and_small_lag():
    figures = verdict(_samples([150, 180, 190, 192, 193, 194, 195, 195, 196, 196, 197, 197],
                               [10, 40, 30, 20, 25, 30, 10, 15, 20, 10, 5, 0]), 60)
    assert figures["ok"] and figures["warmup_seconds"] == 20
    assert figures["rss_after_warmup_mb"] == 193 and figures["lag_bound"] == 1000


def test_soak_fails_on_memory_growth_or_unbounded_lag():
    growing = verdict(_samples([150, 180, 190, 200, 210, 220, 230, 240, 250, 260, 270, 280],
                               [0] * 12), 60)
    assert not growing["ok"] and growing["rss_growth"] > 0.10
    lagging = verdict(_samples([190] * 12, [0, 100, 300, 600, 900, 1200, 1500, 1800, 2100,
                                            2400, 2700, 3000]), 60)
    assert not lagging["ok"] and lagging["lag_max"] > lagging["lag_bound"]
    assert not verdict(_samples([190, 190], [0, 0]), 60)["ok"]  # too short to judge


def _up_samples(cycles: list[list[tuple[int, float]]]) -> list[dict]:
    """Samples every 5 s of `ioc soak --up`: per renewal cycle, (events held, Tansu MB)."""
    out, t, stored = [], 0, 0
    for renewals, cycle in enumerate(cycles):
        for held, rss in cycle:
            t += 5
            stored += 500
            out.append({"t": t, "held": held, "renewals": renewals, "tansu_rss_mb": rss,
                        "stored": stored})
    return out


def test_soak_up_bars_want_renewals_a_bounded_broker_and_storing_after():
    flat = [[(1000 * k, 18 + k) for k in range(1, 9)]] * 3  # filled, renewed, filled ...
    figures = up_verdict(_up_samples(flat), 8000, 2, 200.0)
    assert figures["ok"] and figures["held_max"] == 8000 and figures["renewals"] == 2
    assert figures["held_bound"] == 8000 + 6000 + 1000  # two looks (15 s) at 200/s, 1000
    assert figures["stored_after_last_renewal"] == 3500
    # never renewed; held past the bound; memory growing from cycle to cycle
    assert not up_verdict(_up_samples(flat[:1]), 8000, 0, 200.0)["ok"]
    assert not up_verdict(_up_samples([[(20000, 20)]] * 2), 8000, 1, 200.0)["ok"]
    growing = [[(1000, 20 * (c + 1))] * 3 for c in range(3)]
    assert not up_verdict(_up_samples(growing), 8000, 2, 200.0)["ok"]


# the worker's log of the handover crash of issue 39, as Faust wrote it
HANDOVER_CRASH = """\
[2026-12-06 10:01:02,115] [4242] [INFO] [^Worker]: Ready
[2026-12-06 10:01:02,530] [4242] [ERROR] [^--BatchConsumer]: Crashed reason=AssertionError()
Traceback (most recent call last):
  File "mode/services.py", line 843, in _execute_task
    await task
  File "faust/transport/consumer.py", line 923, in _commit_livelock_detector
    await self.verify_all_partitions_active()
  File "aiokafka/consumer/subscription_state.py", line 492, in position
    assert self._position is not None
           ^^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError
[2026-12-06 10:01:02,601] [4242] [INFO] [^Worker]: Stopping...
"""


def test_a_crash_is_named_by_the_last_line_of_its_traceback():
    assert crash_in_log(HANDOVER_CRASH) == "AssertionError"
    with_message = HANDOVER_CRASH.replace(
        "\nAssertionError\n",
        "\naiokafka.errors.IllegalStateError: Partition portal-3 is not assigned\n")
    assert crash_in_log(with_message) == \
        "aiokafka.errors.IllegalStateError: Partition portal-3 is not assigned"
    # no traceback after the crash line: its own reason
    assert crash_in_log("[ERROR] [^--Fetcher]: Crashed reason=KafkaError('gone')\n") == \
        "KafkaError('gone')"
    assert crash_in_log("[INFO] [^Worker]: Ready\nTraceback (most recent call last):\n"
                        "  File \"x.py\"\nValueError: logged, not a crash\n") is None


def test_a_crash_report_names_the_part_and_why(tmp_path):
    log = tmp_path / "rebalance-worker-b.log"
    log.write_text(HANDOVER_CRASH)
    part = ManagedProcess("rebalance-worker-b", ["true"], log)
    assert crash_reports(part) == [
        {"part": "rebalance-worker-b", "exit_code": None, "reason": "AssertionError"}]
    log.write_text("[INFO] [^Worker]: Ready\n")
    assert crash_reports(part) == []  # runs, no crash
    part.start().proc.wait(10)  # `true` exits on its own: a crash without a crash line
    assert crash_reports(part) == [
        {"part": "rebalance-worker-b", "exit_code": 0, "reason": "[INFO] [^Worker]: Ready"}]
