"""Failed-login limits of the wall: per user, per client address, in a sliding window."""

from __future__ import annotations

from ioc_dashboard.limits import MAX_KEYS, LoginLimiter


def _limiter(**kw) -> tuple[LoginLimiter, list[float]]:
    now = [1000.0]
    return LoginLimiter(clock=lambda: now[0], **kw), now


def test_a_user_waits_after_too_many_failures_until_the_oldest_leaves_the_window():
    limiter, now = _limiter(per_user=3, per_address=100, window_seconds=60)
    for i in range(3):
        assert limiter.retry_after("an.nguyen", f"10.0.0.{i}") is None
        limiter.failed("an.nguyen", f"10.0.0.{i}")
        now[0] += 10
    assert limiter.retry_after("An.Nguyen", "10.0.0.9") == 30  # first failure at 1000 + 60
    assert limiter.retry_after("chi.tran", "10.0.0.9") is None  # another user is not held
    now[0] = 1060
    assert limiter.retry_after("an.nguyen", "10.0.0.9") is None


def test_an_address_trying_many_users_waits():
    limiter, now = _limiter(per_user=100, per_address=4, window_seconds=900)
    for i in range(4):
        limiter.failed(f"user{i}", "203.0.113.7")
    assert limiter.retry_after("someone-else", "203.0.113.7") == 900
    assert limiter.retry_after("someone-else", "203.0.113.8") is None


def test_success_forgives_the_user_but_not_the_address():
    limiter, _ = _limiter(per_user=2, per_address=3, window_seconds=900)
    limiter.failed("an", "a")
    limiter.failed("an", "a")
    assert limiter.retry_after("an", "b") is not None
    limiter.succeeded("an")
    assert limiter.retry_after("an", "b") is None
    limiter.failed("x", "a")
    assert limiter.retry_after("y", "a") is not None  # three from address a


def test_memory_is_bounded():
    limiter, _ = _limiter()
    for i in range(MAX_KEYS):
        limiter.failed(f"u{i}", "a")
    assert len(limiter._failures) <= MAX_KEYS
