"""Restart back-off and the crash-loop verdict of `ioc up`'s supervisor."""

from __future__ import annotations

from ioc.supervision import MAX_BACKOFF_SECONDS, RestartPolicy


def test_back_off_doubles_then_a_crash_loop_stops():
    policy = RestartPolicy(limit=5, window_seconds=600)
    delays = [policy.exited(t) for t in (0, 10, 20, 30, 40)]
    assert delays == [1, 2, 4, 8, 16]
    assert policy.exited(50) is None  # a sixth exit within ten minutes


def test_exits_older_than_the_window_are_forgotten():
    policy = RestartPolicy(limit=2, window_seconds=60)
    assert policy.exited(0) == 1
    assert policy.exited(30) == 2
    assert policy.exited(80) == 2  # the one at 0 is out of the window; 30 is still in
    assert policy.recent == 2
    assert policy.exited(200) == 1


def test_back_off_is_capped():
    policy = RestartPolicy(limit=100, window_seconds=10_000)
    assert max(policy.exited(t) for t in range(20)) == MAX_BACKOFF_SECONDS
