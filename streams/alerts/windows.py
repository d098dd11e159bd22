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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from ioc.errors import RuleEvaluationError

SCALE = 1074  # every finite double is a whole number of 2**-1074
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
T = TypeVar("T", datetime, int)


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


def sliding(rows: Iterable[tuple[str, int, int, int]], ats: Sequence[int], width: int
            ) -> dict[str, list[tuple[int, int, int, int]]]:
    """For each key (sorted), the runs of steps of `ats` (ascending) over which its window
    (at - width, at] holds rows with the same sums: (first step, step after the last,
    sum of the first numbers, sum of the second numbers). `rows` are (key, time, number,
    number), in any order; times and `width` in whole microseconds (`micros`: integers
    compare many times faster than datetimes). A window changes only when a row enters or
    leaves it, so a rule judges each run once, not each step."""
    by_key: dict[str, list[tuple[int, int, int]]] = {}
    for key, at, x, y in rows:
        by_key.setdefault(key, []).append((at, x, y))
    sinces = [at - width for at in ats]
    steps = len(ats)
    out: dict[str, list[tuple[int, int, int, int]]] = {}
    for key in sorted(by_key):
        # per step: what enters and leaves the window there (rows, sums); the window only
        # changes at those steps, so the runs are found without visiting every step
        changes: dict[int, list[int]] = {0: [0, 0, 0]}
        for at, x, y in by_key[key]:
            enters = bisect_left(ats, at)  # the first step with at <= step
            if enters == steps:
                continue
            leaves = bisect_left(sinces, at)  # the first step whose window starts at or after
            change = changes.get(enters)
            if change is None:
                change = changes[enters] = [0, 0, 0]
            change[0] += 1
            change[1] += x
            change[2] += y
            if leaves < steps:
                change = changes.get(leaves)
                if change is None:
                    change = changes[leaves] = [0, 0, 0]
                change[0] -= 1
                change[1] -= x
                change[2] -= y
        runs: list[tuple[int, int, int, int]] = []
        held = sum_x = sum_y = 0
        start, open_sums = -1, (0, 0)  # the open run's first step (-1: none) and sums
        for step in sorted(changes):
            n, x, y = changes[step]
            held += n
            sum_x += x
            sum_y += y
            if start >= 0:
                runs.append((start, step, *open_sums))
                start = -1
            if held:
                start, open_sums = step, (sum_x, sum_y)
        if start >= 0:
            runs.append((start, steps, *open_sums))
        if runs:
            out[key] = runs
    return out


def per_step(runs: dict[str, list[tuple[int, int, int, int]]], steps: int,
             judge: Callable[[str, int, int], object],
             quiet: Callable[[object], bool] | None = None,
             watched: Callable[[object], bool] | None = None) -> list[list]:
    """Each step's judgements of its keys (in key order), from `sliding`'s runs: `judge`
    (key, sum, sum) is called once per run. A verdict that is `quiet` (the evaluator: an
    entity that is well) is given at the first step it holds, not again at the steps after
    while it stays the same: most keys are well most of the time, and a backtest would
    otherwise repeat millions of verdicts that change nothing.

    With `watched` (the evaluator: has this entity an alert?, asked of a key's first quiet
    verdict), a key that is not watched has its quiet verdicts given once per stretch of
    them, even as their values change (a link's mean latency changes with every heartbeat:
    nothing to tell the lifecycle of a well link without an alert); a loud verdict makes
    the key watched from there on (it may raise an alert)."""
    out: list[list] = [[] for _ in range(steps)]
    for key, key_runs in runs.items():
        before, until = None, -1  # the previous run's verdict and the step after it
        was_quiet = False  # whether that verdict was quiet
        keep = asked = watched is None  # give changed quiet verdicts; `watched` asked
        for first, end, x, y in key_runs:
            verdict = judge(key, x, y)
            if quiet is not None and quiet(verdict):
                if not asked:
                    keep, asked = bool(watched(verdict)), True  # type: ignore[misc]
                if first != until or not was_quiet or (keep and verdict != before):
                    out[first].append(verdict)
                was_quiet = True
            else:
                keep = asked = True
                for step in range(first, end):
                    out[step].append(verdict)
                was_quiet = False
            before, until = verdict, end
    return out


def newest(times: Sequence[T], ats: Sequence[T], width: object) -> list[T | None]:
    """Per step of `ats` (ascending): the newest of `times` (ascending) in (at - width, at],
    or None (datetimes and a timedelta, or microseconds)."""
    out: list[T | None] = []
    last: T | None = None
    i = 0
    for at in ats:
        while i < len(times) and times[i] <= at:
            last = times[i]
            i += 1
        out.append(last if last is not None and last > at - width else None)
    return out
