"""Stall detection rules (pure logic, clock passed in)."""

from __future__ import annotations

from streams.health import StallDetector

TP = ("ioc.payments", 0)


def test_lag_without_progress_for_longer_than_the_limit_is_a_stall():
    d = StallDetector(stall_seconds=10, started_at=0)
    assert not d.assess(1, {TP: 100}, {TP: 40}, last_poll=1).stalled
    assert d.last.lag == {TP: 60}
    assert not d.assess(10, {TP: 120}, {TP: 40}, last_poll=10).stalled
    look = d.assess(12, {TP: 150}, {TP: 40}, last_poll=12)
    assert look.stalled
    assert "ioc.payments[0]: 110 events waiting" in look.reasons[0]


def test_progress_or_no_lag_keeps_a_partition_healthy():
    d = StallDetector(stall_seconds=10, started_at=0)
    for t in range(0, 60, 5):
        # lag all along, but the stored position moves every look
        assert not d.assess(t, {TP: 1000 + t * 10}, {TP: t * 10}, last_poll=t).stalled
    d = StallDetector(stall_seconds=10, started_at=0)
    for t in range(0, 60, 5):  # idle: nothing to do is not a stall
        assert not d.assess(t, {TP: 500}, {TP: 500}, last_poll=t).stalled


def test_a_fetch_loop_that_stops_polling_is_a_stall_unless_it_waits_for_an_agent():
    d = StallDetector(stall_seconds=10, started_at=0)
    assert not d.assess(5, {}, {}, last_poll=4).stalled
    look = d.assess(20, {}, {}, last_poll=4)
    assert look.stalled and "has not polled Kafka for 16 s" in look.reasons[0]
    d = StallDetector(stall_seconds=10, started_at=0)
    assert not d.assess(20, {}, {}, last_poll=4, waiting_on_agent=True).stalled
    assert not d.assess(25, {}, {}, last_poll=4, rebalancing=True).stalled
    assert d.assess(40, {}, {}, last_poll=4).stalled  # 15 s after the rebalance ended


def test_revoked_partitions_are_forgotten():
    d = StallDetector(stall_seconds=10, started_at=0)
    d.assess(0, {TP: 100}, {TP: 0}, last_poll=0)
    look = d.assess(30, {}, {}, last_poll=30)  # revoked meanwhile: no lag, no stall
    assert not look.stalled and look.lag == {}
    # reassigned later: the clock starts again, not from the first sighting
    assert not d.assess(35, {TP: 100}, {TP: 0}, last_poll=35).stalled


def test_stalled_seconds_counts_how_long_a_backlog_waits_without_progress():
    other = ("ioc.portal", 0)
    d = StallDetector(stall_seconds=float("inf"), started_at=0)
    d.assess(0, {TP: 100, other: 10}, {TP: 100, other: 10}, last_poll=0)
    assert d.stalled_seconds() == {}                      # no lag: nothing waits
    d.assess(5, {TP: 180, other: 30}, {TP: 100, other: 30}, last_poll=5)
    d.assess(20, {TP: 300, other: 40}, {TP: 100, other: 38}, last_poll=20)
    # payments[0] has not moved since it was last caught up (t=0); portal[0] has lag but moves
    assert d.stalled_seconds() == {TP: 20, other: 0}
    d.assess(25, {TP: 300, other: 40}, {TP: 150, other: 40}, last_poll=25)
    assert d.stalled_seconds() == {TP: 0}  # it moved: the wait starts again


def test_back_pressure_excuses_the_fetch_loop_only_while_agents_take_batches():
    d = StallDetector(stall_seconds=10, started_at=0)
    # a busy agent: batches wait, but it takes one every few seconds
    for t in range(5, 60, 5):
        assert not d.assess(t, {}, {}, last_poll=2, waiting_on_agent=True,
                            last_handed=t - 3).stalled
    # a stuck agent: batches wait and none is taken (its paused partitions show no lag)
    assert not d.assess(65, {}, {}, last_poll=2, waiting_on_agent=True, last_handed=57).stalled
    look = d.assess(70, {}, {}, last_poll=2, waiting_on_agent=True, last_handed=57)
    assert look.stalled and "an agent that has taken none for 13 s" in look.reasons[0]
    # it takes one again: healthy
    assert not d.assess(75, {}, {}, last_poll=2, waiting_on_agent=True, last_handed=74).stalled
