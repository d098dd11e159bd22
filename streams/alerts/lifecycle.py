"""The alert lifecycle, a pure state machine driven by evaluation steps.

inactive -> pending when the condition breaches; pending -> firing once it has held for the
rule's `for`; firing -> resolved only when the separate clear condition holds (hysteresis:
between the threshold and the clear bound the alert keeps its state). An alert whose
firing<->resolved changes crowd a window is `flapping`: it stays so (notifications held back)
until the changes thin out, then takes the state its condition is in. One alert per
fingerprint (rule + labels). Times are whatever clock drives the steps (event time here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from streams.alerts.rules import Flapping

INACTIVE, PENDING, FIRING, FLAPPING, RESOLVED = (
    "inactive", "pending", "firing", "flapping", "resolved")


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """Stable id of one alert: its rule and its labels."""
    return _fingerprint(rule, tuple(labels.items()))


@lru_cache(maxsize=65536)
def _fingerprint(rule: str, items: tuple[tuple[str, str], ...]) -> str:
    # cached: a backtest asks for the same few hundred entities millions of times
    text = json.dumps([rule, sorted(items)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Observation(NamedTuple):
    """One rule's verdict on one entity at one step (a tuple: a backtested day makes
    millions)."""

    labels: dict[str, str]
    value: float | None
    breach: bool        # the firing condition holds
    clear: bool         # the (hysteresis) clear condition holds
    threshold: float | None = None


@dataclass
class AlertState:
    """What the lifecycle remembers of one fingerprint."""

    rule: str
    labels: dict[str, str]
    state: str = INACTIVE
    pending_since: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    value: float | None = None
    threshold: float | None = None
    episode: int = 0
    # the state the condition alone would give (used while flapping)
    underlying: str = INACTIVE
    # event times of firing<->resolved changes of `underlying`, within the flap window
    changes: list[datetime] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("pending_since", "starts_at", "ends_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["changes"] = [t.isoformat() for t in self.changes]
        return data

    @classmethod
    def from_json(cls, data: dict) -> AlertState:
        data = dict(data)
        for key in ("pending_since", "starts_at", "ends_at"):
            data[key] = datetime.fromisoformat(data[key]) if data[key] else None
        data["changes"] = [datetime.fromisoformat(t) for t in data["changes"]]
        return cls(**data)


@dataclass(frozen=True)
class Transition:
    fingerprint: str
    rule: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    at: datetime
    value: float | None


class Lifecycle:
    """All alerts of one engine: feed it each rule's observations, step after step."""

    def __init__(self, flapping: Flapping, states: dict[str, AlertState] | None = None):
        self.flapping = flapping
        self.states: dict[str, AlertState] = states if states is not None else {}
        # rule -> the fingerprints of its states, in the order of `states`
        self._of_rule: dict[str, dict[str, None]] = {}
        for fp, st in self.states.items():
            self._of_rule.setdefault(st.rule, {})[fp] = None

    def observe(self, rule: str, for_seconds: float, observations: list[Observation],
                at: datetime) -> list[Transition]:
        """Apply one step of one rule; entities it does not report count as clear and keep
        their last value (so an evaluator need not repeat a well entity's unchanged
        observation)."""
        if not observations and rule not in self._of_rule:
            return []  # most steps of a batch: nothing told, no alert to clear
        out: list[Transition] = []
        seen = set()
        # most observations are of entities that are well and have no alert: skip them
        # without their fingerprint unless this rule has alerts to match them against
        tracked = rule in self._of_rule
        for obs in observations:
            if not obs.breach and not tracked:
                continue
            fp = fingerprint(rule, obs.labels)
            seen.add(fp)
            st = self.states.get(fp)
            if st is None:
                if not obs.breach:
                    continue
                st = self.states[fp] = AlertState(rule=rule, labels=dict(obs.labels))
                self._of_rule.setdefault(rule, {})[fp] = None
            out += self._step(fp, st, for_seconds, obs.breach, obs.clear, obs.value,
                              obs.threshold, at)
        for fp in list(self._of_rule.get(rule, ())):
            if fp not in seen:
                st = self.states[fp]
                out += self._step(fp, st, for_seconds, False, True, None, st.threshold, at)
        return out

    def has_alert(self, rule: str) -> Callable[[dict[str, str]], bool]:
        """labels -> whether `rule` has an alert (of any state) for them now: what the
        evaluator asks before it leaves out a well entity's changed values."""
        fps = self._of_rule.get(rule)
        if not fps:
            return lambda labels: False
        return lambda labels: fingerprint(rule, labels) in fps

    def _step(self, fp: str, st: AlertState, for_seconds: float, breach: bool, clear: bool,
              value: float | None, threshold: float | None, at: datetime) -> list[Transition]:
        before = st.state
        if value is not None:
            st.value = value
        st.threshold = threshold if threshold is not None else st.threshold
        # 1. the condition alone: inactive/pending/firing/resolved
        u = st.underlying
        if u in (INACTIVE, RESOLVED):
            if breach:
                st.pending_since = at
                u = PENDING
        elif u == PENDING and not breach:
            u = RESOLVED if st.episode else INACTIVE
            st.pending_since = None
        elif u == FIRING and clear:
            u = RESOLVED
            st.ends_at = at
            st.changes.append(at)
        if u == PENDING and at - st.pending_since >= timedelta(seconds=for_seconds):
            u = FIRING
            st.episode += 1
            st.starts_at, st.ends_at, st.pending_since = at, None, None
            st.changes.append(at)
        st.underlying = u
        # 2. flap detection over the underlying firing<->resolved changes
        window = timedelta(seconds=self.flapping.window_seconds)
        st.changes = [t for t in st.changes if at - t < window]
        if before == FLAPPING:
            st.state = FLAPPING if len(st.changes) > self.flapping.clear_changes else (
                u if u != PENDING else (RESOLVED if st.episode else INACTIVE))
        elif len(st.changes) >= self.flapping.min_changes and u in (FIRING, RESOLVED):
            st.state = FLAPPING
        else:
            st.state = u
        if st.state == before:
            return []
        t = Transition(fp, st.rule, dict(st.labels), before, st.state, at, st.value)
        if st.state == INACTIVE:
            del self.states[fp]
            del self._of_rule[st.rule][fp]
            if not self._of_rule[st.rule]:
                del self._of_rule[st.rule]
        return [t]

    def to_json(self) -> dict:
        return {fp: st.to_json() for fp, st in self.states.items()}

    @classmethod
    def from_json(cls, flapping: Flapping, data: dict) -> Lifecycle:
        return cls(flapping, {fp: AlertState.from_json(d) for fp, d in data.items()})


def inhibited(states: dict[str, AlertState], rules_inhibit: list,
              extra_labels: dict[str, dict[str, str]]) -> dict[str, str]:
    """fingerprint -> fingerprint of a firing alert that inhibits it (Alertmanager's
    inhibit_rules: source matches, target matches, the `equal` labels agree)."""

    def labels_of(fp: str, st: AlertState) -> dict[str, str]:
        return {**st.labels, "alertname": st.rule, **extra_labels.get(fp, {})}

    active = {fp: labels_of(fp, st) for fp, st in states.items()
              if st.state in (FIRING, FLAPPING)}
    result: dict[str, str] = {}
    for fp, st in states.items():
        target = labels_of(fp, st)
        for rule in rules_inhibit:
            if not all(target.get(k) == v for k, v in rule.target.items()):
                continue
            for src_fp, src in sorted(active.items()):
                if src_fp == fp or not all(src.get(k) == v for k, v in rule.source.items()):
                    continue
                if all(src.get(k) == target.get(k) for k in rule.equal):
                    result[fp] = src_fp
                    break
            if fp in result:
                break
    return result
