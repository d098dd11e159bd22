"""Sliding windows of the alert evaluator: each step equals the window computed alone."""

import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from ioc.errors import RuleEvaluationError
from streams.alerts.windows import check_ascending, exact, mean, micros, newest, per_step, sliding

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
US = micros
MINUTE = 60 * 10**6


def test_exact_sums_lose_nothing_and_the_mean_is_correctly_rounded():
    values = [0.1, 1e300, -1e300, 250.5, 5e-324, 3.0]
    total = sum(exact(v) for v in values)
    assert mean(total, len(values)) == float(sum(map(Fraction, values)) / len(values))
    assert mean(exact(0.1) + exact(0.2), 2) == float((Fraction(0.1) + Fraction(0.2)) / 2)
    assert mean(exact(-7.25), 1) == -7.25


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_value_that_is_not_finite_is_refused(bad):
    with pytest.raises(RuleEvaluationError, match="not finite"):
        exact(bad)


def as_steps(runs, steps):
    return [dict(step) for step in per_step(runs, steps, lambda key, x, y: (key, (x, y)))]


def test_sliding_equals_each_window_alone():
    rng = random.Random(7)
    rows = [(rng.choice("abc"), US(T0 + timedelta(seconds=rng.randrange(0, 900) / 4)),
             1, exact(rng.uniform(0, 500))) for _ in range(400)]
    ats = [US(T0 + timedelta(seconds=s)) for s in range(-30, 960, 3)]
    windowed = as_steps(sliding(rows, ats, MINUTE), len(ats))
    for at, got in zip(ats, windowed, strict=True):
        alone = sliding([r for r in rows if at - MINUTE < r[1] <= at], [at], MINUTE)
        assert got == as_steps(alone, 1)[0]
        expected = {}
        for key, t, n, total in rows:
            if at - MINUTE < t <= at:
                count, sums = expected.get(key, (0, 0))
                expected[key] = (count + n, sums + total)
        assert got == expected
        assert list(got) == sorted(got)


def test_a_window_is_judged_once_per_run_of_equal_sums():
    rows = [("a", US(T0) + s * 10**6, 1, 2) for s in (0, 10)]
    runs = sliding(rows, [US(T0) + s * 10**6 for s in range(-2, 30)], 15 * 10**6)
    assert runs == {"a": [(2, 12, 1, 2), (12, 17, 2, 4), (17, 27, 1, 2)]}
    judged = []
    per_step(runs, 32, lambda key, x, y: judged.append((key, x, y)))
    assert judged == [("a", 1, 2), ("a", 2, 4), ("a", 1, 2)]


def test_newest_within_the_lookback():
    times = [T0 + timedelta(seconds=s) for s in (0, 10, 11, 50)]
    ats = [T0 + timedelta(seconds=s) for s in (-1, 0, 5, 10, 30, 60, 71)]
    assert newest(times, ats, timedelta(seconds=20)) == [
        None, times[0], times[0], times[1], times[2], times[3], None]


def test_steps_must_ascend():
    check_ascending([T0, T0 + timedelta(seconds=1)])
    with pytest.raises(ValueError, match="ascending"):
        check_ascending([T0, T0])


def test_micros_differences_are_total_seconds():
    a = T0 + timedelta(microseconds=123_457)
    b = T0 - timedelta(days=3, microseconds=999_999)
    assert (micros(a) - micros(b)) / 1_000_000 == (a - b).total_seconds()


def test_a_quiet_verdict_is_given_once_while_it_stays_the_same():
    # runs of "a": (0, 3) quiet, (3, 5) the same quiet verdict, (5, 7) loud, (7, 9) quiet;
    # "b": a quiet run after a gap is given again
    runs = {"a": [(0, 3, 0, 1), (3, 5, 0, 1), (5, 7, 1, 1), (7, 9, 0, 1)],
            "b": [(0, 2, 0, 2), (4, 6, 0, 2)]}
    steps = per_step(runs, 9, lambda key, x, y: (key, x, y), quiet=lambda v: v[1] == 0)
    assert steps == [[("a", 0, 1), ("b", 0, 2)], [], [], [], [("b", 0, 2)],
                     [("a", 1, 1)], [("a", 1, 1)], [("a", 0, 1)], []]


def test_an_unwatched_key_is_told_once_per_quiet_stretch_whatever_its_values():
    # "a" (not watched): quiet runs with changing values, then loud, then quiet again with
    # changing values (watched from its loud run on); "b" is watched from the start
    runs = {"a": [(0, 2, 0, 1), (2, 4, 0, 2), (4, 5, 1, 1), (5, 6, 0, 3), (6, 8, 0, 4)],
            "b": [(0, 3, 0, 5), (3, 8, 0, 6)]}
    asked = []

    def watched(verdict) -> bool:
        asked.append(verdict[0])
        return verdict[0] == "b"

    steps = per_step(runs, 8, lambda key, x, y: (key, x, y), quiet=lambda v: v[1] == 0,
                     watched=watched)
    assert steps == [[("a", 0, 1), ("b", 0, 5)], [], [], [("b", 0, 6)], [("a", 1, 1)],
                     [("a", 0, 3)], [("a", 0, 4)], []]
    assert asked == ["a", "b"]  # once per key
