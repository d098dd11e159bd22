"""Sliding windows over rows read once for a batch of evaluation steps.

A rule over a window (the last 2 minutes of each link's heartbeats, the last 10 minutes of
payments) asked at 600 consecutive steps reads the rows of the whole span in one query and
slides the window here, instead of aggregating in the database at every step: what lets a
backtest evaluate a day in seconds. Sums are exact (integers), so a window's value does not
depend on the way it was reached: a step evaluated alone (live) gives the same bits as the
same step inside a batch (catch-up, backtest).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from ioc.errors import RuleEvaluationError

SCALE = 1074  # every finite double is a whole number of 2**-1074
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """`at` in whole microseconds since the epoch: differences of these divided by 10**6 are
    what `timedelta.total_seconds` gives, at a fraction of the cost."""
    return (at - EPOCH) // ONE_US


def exact(value: float) -> int:
    """`value` as a whole number of 2**-1074: sums of these lose nothing."""
    if not math.isfinite(value):
        raise RuleEvaluationError(f"stored value {value} is not finite")
    numerator, denominator = value.as_integer_ratio()  # the denominator is a power of two
    return numerator << (SCALE + 1 - denominator.bit_length())


def mean(total: int, count: int) -> float:
    """The mean of `count` values whose `exact` sum is `total`, correctly rounded."""
    return total / (count << SCALE)


def check_ascending(ats: Sequence[datetime]) -> None:
    if any(b <= a for a, b in zip(ats, ats[1:], strict=False)):
        raise ValueError("evaluation steps must be in ascending order")


def sliding(rows: Iterable[tuple[str, datetime, int, int]], ats: Sequence[datetime],
            seconds: float) -> list[dict[str, tuple[int, int]]]:
    """Per step of `ats` (ascending): for each key with rows in (at - seconds, at], the sums
    of those rows' two numbers. `rows` are (key, time, number, number), in any order; keys
    come out sorted."""
    by_key: dict[str, list[tuple[datetime, int, int]]] = {}
    for key, at, x, y in rows:
        by_key.setdefault(key, []).append((at, x, y))
    width = timedelta(seconds=seconds)
    out: list[dict[str, tuple[int, int]]] = [{} for _ in ats]
    for key in sorted(by_key):
        series = sorted(by_key[key], key=lambda row: row[0])
        end = len(series)
        sum_x = sum_y = lo = hi = 0
        for step, at in enumerate(ats):
            while hi < end and series[hi][0] <= at:
                _, x, y = series[hi]
                sum_x += x
                sum_y += y
                hi += 1
            since = at - width
            while lo < hi and series[lo][0] <= since:
                _, x, y = series[lo]
                sum_x -= x
                sum_y -= y
                lo += 1
            if lo < hi:
                out[step][key] = (sum_x, sum_y)
    return out


def newest(times: Sequence[datetime], ats: Sequence[datetime], lookback: float
           ) -> list[datetime | None]:
    """Per step of `ats` (ascending): the newest of `times` (ascending) in
    (at - lookback, at], or None."""
    width = timedelta(seconds=lookback)
    out: list[datetime | None] = []
    last: datetime | None = None
    i = 0
    for at in ats:
        while i < len(times) and times[i] <= at:
            last = times[i]
            i += 1
        out.append(last if last is not None and last > at - width else None)
    return out
