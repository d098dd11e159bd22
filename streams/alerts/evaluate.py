"""Rule values at event-time steps, computed from the stored events.

Every event-time step reads only rows with `occurred_at <= at`, so evaluating the same
step on the same data gives the same answer whenever it runs (live or replayed). Rules over
a sliding window read the rows of a whole batch of steps once and slide the window in
Python (`windows`); the others run one query for the batch. Pipeline rules are the
exception: they describe the running system and read wall time. Each rule kind computes
its observations in a module of its own (`streams/alerts/kinds/`); this module runs the
right one and gives what every kind shares: the rule's own labels, and errors a person can
act on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from ioc.errors import RuleEvaluationError
from streams.alerts.kinds import KINDS
from streams.alerts.lifecycle import Observation
from streams.alerts.reads import StoredReads
from streams.alerts.windows import check_ascending


class Evaluator(StoredReads):
    """Computes each rule's observations at a step; entity names come from the province."""

    def evaluate(self, rule, at: datetime, origin: datetime) -> list[Observation]:
        """Observations of `rule` at event time `at` (`origin`: when evaluation began).

        `RuleEvaluationError` when the stored data cannot give this rule a value (a query
        the database refuses, a value that is not finite): the caller sets the rule aside
        and goes on with the others. A lost connection is not the rule's fault and passes.
        """
        return self.evaluate_many(rule, [at], origin)[0]

    def evaluate_many(self, rule, ats: list[datetime], origin: datetime,
                      watched: Callable[[dict[str, str]], bool] | None = None
                      ) -> list[list[Observation]]:
        """`evaluate` at each of the steps `ats` (ascending), reading the stored rows once
        for all of them (what makes catch-up and backtests fast): each step's answer is
        the one `evaluate` gives it alone, except that an entity that is well (`is_well`)
        with the same observation as at the previous step of `ats` may be left out: the
        lifecycle counts an entity it is not told about as well and keeps its last value,
        so the alerts are the same. With `watched` (labels -> has this entity an alert:
        the engine's lifecycle), the well observations of an entity with no alert are
        given once per stretch of them even as their value changes (see `per_step`): the
        lifecycle ignores a well entity that has no alert."""
        check_ascending(ats)
        has_alert = None if watched is None else (
            lambda o: watched({**rule.labels, **o.labels}))
        try:
            per_step = KINDS[type(rule)].observe(self, rule, ats, origin, has_alert)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise RuleEvaluationError(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        if not rule.labels:
            return per_step
        return [[Observation({**rule.labels, **o.labels}, o.value, o.breach, o.clear,
                             o.threshold) for o in observations] for observations in per_step]
