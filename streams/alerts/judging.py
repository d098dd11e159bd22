"""A compared rule's verdict on a value: breaching, clear, or neither (hysteresis), against
its threshold or the province's target it names."""

from __future__ import annotations

import math
from collections.abc import Callable

from ioc.errors import RuleEvaluationError
from ioc.province import Province
from streams.alerts.lifecycle import Observation
from streams.alerts.rules import _Compared


def threshold_of(rule: _Compared, province: Province) -> tuple[float, float]:
    """(threshold, clear bound) of a compared rule, resolving province targets."""
    if rule.threshold_from:
        threshold = getattr(province.targets, rule.threshold_from.split(":", 1)[1])
        margin = rule.clear_margin if rule.op == "<" else -rule.clear_margin
        return threshold, rule.clear if rule.clear is not None else threshold + margin
    assert rule.threshold is not None
    return rule.threshold, rule.clear if rule.clear is not None else rule.threshold


def judge(rule: _Compared, province: Province
          ) -> Callable[[dict[str, str], float | None], Observation]:
    """The rule's verdict on (labels, value): its threshold resolved once for many."""
    threshold, clear = threshold_of(rule, province)
    below = rule.op == "<"

    def verdict(labels: dict[str, str], value: float | None) -> Observation:
        if value is None:
            return Observation(labels, None, False, True, threshold)
        if not math.isfinite(value):
            raise RuleEvaluationError(f"value {value} for {labels} is not finite")
        if below:
            return Observation(labels, value, value < threshold, value >= clear, threshold)
        return Observation(labels, value, value > threshold, value <= clear, threshold)
    return verdict


def is_well(observation: Observation) -> bool:
    """Neither breaching nor short of its clear bound: nothing to tell the lifecycle again."""
    return not observation.breach and observation.clear


def compare(rule: _Compared, province: Province, labels: dict[str, str],
            value: float | None) -> Observation:
    return judge(rule, province)(labels, value)
