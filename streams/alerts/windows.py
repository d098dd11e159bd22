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
from collections.abc import Callable, Iterable, Sequence
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
            seconds: float) -> dict[str, list[tuple[int, int, int, int]]]:
    """For each key (sorted), the runs of steps of `ats` (ascending) over which its window
    (at - seconds, at] holds rows with the same sums: (first step, step after the last,
    sum of the first numbers, sum of the second numbers). `rows` are (key, time, number,
    number), in any order. A window changes only when a row enters or leaves it, so a
    rule judges each run once, not each step."""
    by_key: dict[str, list[tuple[datetime, int, int]]] = {}
    for key, at, x, y in rows:
        by_key.setdefault(key, []).append((at, x, y))
    width = timedelta(seconds=seconds)
    sinces = [at - width for at in ats]
    out: dict[str, list[tuple[int, int, int, int]]] = {}
    for key in sorted(by_key):
        series = sorted(by_key[key], key=lambda row: row[0])
        end = len(series)
        runs: list[tuple[int, int, int, int]] = []
        sum_x = sum_y = lo = hi = 0
        start, open_sums = -1, (0, 0)  # the open run's first step (-1: none) and sums
        for step, at in enumerate(ats):
            changed = False
            while hi < end and series[hi][0] <= at:
                _, x, y = series[hi]
                sum_x += x
                sum_y += y
                hi += 1
                changed = True
            since = sinces[step]
            while lo < hi and series[lo][0] <= since:
                _, x, y = series[lo]
                sum_x -= x
                sum_y -= y
                lo += 1
                changed = True
            if changed or start < 0:
                if start >= 0:
                    runs.append((start, step, *open_sums))
                    start = -1
                if lo < hi:
                    start, open_sums = step, (sum_x, sum_y)
        if start >= 0:
            runs.append((start, len(ats), *open_sums))
        if runs:
            out[key] = runs
    return out


def per_step(runs: dict[str, list[tuple[int, int, int, int]]], steps: int,
             judge: Callable[[str, int, int], object]) -> list[list]:
    """Each step's judgements of its keys (in key order), from `sliding`'s runs: `judge`
    (key, sum, sum) is called once per run."""
    out: list[list] = [[] for _ in range(steps)]
    for key, key_runs in runs.items():
        for first, end, x, y in key_runs:
            verdict = judge(key, x, y)
            for step in range(first, end):
                out[step].append(verdict)
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
