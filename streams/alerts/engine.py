"""The alert engine (`ioc alerter`): advances an event-time clock over the stored events and
evaluates every rule at every step, storing alerts, transitions and its own position.

Watermark (how far event time may advance):
- live: how far the slowest feed still receiving rows has got (its newest event time plus
  the wall time since that row was stored), minus the allowed lateness; a feed that got no
  rows for `idle_feed_seconds` of wall time stops holding it back, so one silent feed cannot
  stop alerting about itself;
- replay (the `<schema>_replay` namespace): only what is complete, i.e. everything stored
  once no rows arrived for `settle_seconds`. A replay at --speed max stores partitions out
  of step with each other; waiting until it settles makes the steps see exactly the data
  the live run saw.
Steps are aligned on multiples of `step_seconds`, so both runs evaluate the same instants.
"""

from __future__ import annotations

import json
import logging
import string
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from ioc.calendar import WorkCalendar
from ioc.contract import PAYMENT_CATEGORY_NAMES
from ioc.errors import RuleEvaluationError
from ioc.numbers import localize
from ioc.province import Province
from streams.alerts.evaluate import Evaluator
from streams.alerts.lifecycle import (
    FIRING,
    FLAPPING,
    INACTIVE,
    AlertState,
    Lifecycle,
    Observation,
    Transition,
    inhibited,
)
from streams.alerts.reads import feed_positions, oldest_event
from streams.alerts.rules import PipelineRule, RulesFile

log = logging.getLogger(__name__)

PIPELINE_PREFIX = "pipeline:"
ALIVE_SECONDS = 5  # the engine's state is written at least this often (wall time)
NOT_DUE: list[Observation] = []  # a rule not due at a step (its every_seconds): not observed


class _Numbers(string.Formatter):
    """str.format with the language's number conventions: vi-VN writes 96,9% and 1.234,5."""

    def __init__(self, lang: str):
        self.lang = lang

    def format_field(self, value: object, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return localize(text, self.lang)
        return text


def render(template: str, labels: dict[str, str], value: float | None,
           threshold: float | None, province_name: str = "", lang: str = "vi") -> str:
    """A rule's summary in `lang` with its labels, value, threshold and the province's name
    filled in (province-wide alerts name the province, as per-entity ones name their unit);
    numbers in the language's format, a payment category by its name."""
    category = labels.get("category")
    names = {"unit_name": labels.get("unit", ""), "province_name": province_name,
             "category_name": PAYMENT_CATEGORY_NAMES.get(category, {}).get(lang, category or "")}
    try:
        return _Numbers(lang).format(
            template, **{**names, **labels},
            value=value if value is not None else float("nan"),
            threshold=threshold if threshold is not None else float("nan"))
    except (KeyError, ValueError, IndexError):
        return template


def _floor(t: datetime, step: float) -> datetime:
    epoch = t.timestamp()
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


class Engine:
    """One engine over one schema. `conn` is an autocommit connection (role ioc_writer)."""

    def __init__(self, conn: psycopg.Connection, rules: RulesFile, province: Province,
                 calendar: WorkCalendar, *, replay: bool = False, name: str = "alerter",
                 wall_clock: Callable[[], float] = time.monotonic,
                 lag: Callable[[], int | None] | None = None,
                 stalled: Callable[[], dict[str, float] | None] | None = None,
                 brokers: Callable[[], dict[int, int] | None] | None = None):
        self.conn = conn
        self.rules = rules
        self.replay = replay
        self.name = name
        self.province = province
        # rules the stored data cannot be evaluated with: failures in a row, and why
        self.failing: dict[str, int] = {}
        self.failing_why: dict[str, str] = {}
        self.evaluator = Evaluator(conn, province, calendar, lag, stalled,
                                   rule_errors=lambda: dict(self.failing), brokers=brokers)
        self.wall_clock = wall_clock
        self._pipeline_due: dict[str, float] = {}
        self._persisted_at = float("-inf")
        self.step = timedelta(seconds=rules.evaluation.step_seconds)
        self.event_rules = {n: r for n, r in rules.rules.items() if not isinstance(r, PipelineRule)}
        self.pipeline_rules = {} if replay else {
            n: r for n, r in rules.rules.items() if isinstance(r, PipelineRule)}
        self.lifecycle = Lifecycle(rules.flapping)
        self.step_at: datetime | None = None
        self.origin: datetime | None = None
        self.inhibited: dict[str, str] = {}
        self.run_id: int | None = None  # replay: the replay run the state belongs to
        self._load()

    # ---- state ----
    def _load(self) -> None:
        row = self.conn.execute("SELECT step_at, state FROM alert_engine_state WHERE engine = %s",
                                (self.name,)).fetchone()
        if row:
            self.step_at = row[0]
            origin = row[1]["origin"]  # None: saved before any event arrived
            self.origin = datetime.fromisoformat(origin) if origin else None
            self.lifecycle = Lifecycle.from_json(self.rules.flapping, row[1]["alerts"])
            self.inhibited = row[1].get("inhibited", {})
            self.run_id = row[1].get("run")

    def _replay_run(self) -> int | None:
        return self.conn.execute("SELECT max(run_id) FROM replay_runs").fetchone()[0]

    def _check_new_replay(self) -> None:
        """A new `ioc replay` run replaces the replayed data: start again from its events."""
        run = self._replay_run()
        if run == self.run_id:
            return
        log.info("replay run %s: evaluating from its first event", run)
        # `ioc replay` emptied the alert tables before it began the run (it owns the schema;
        # this role may not delete history); what this engine may have written since, from
        # its previous run, goes here
        with self.conn.transaction():
            for table in ("alert_engine_state", "alerts"):
                self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        self.lifecycle = Lifecycle(self.rules.flapping)
        self.step_at = self.origin = None
        self.inhibited = {}
        self.run_id = run

    # ---- watermark ----
    def watermark(self) -> datetime | None:
        """How far event time may advance now (None: no data yet)."""
        now = self.conn.execute("SELECT now()").fetchone()[0]
        positions = {f: p for f, p in feed_positions(self.conn).items() if p[0] is not None}
        if not positions:
            return None
        newest = max(occurred for occurred, _ in positions.values())
        settle = self.rules.evaluation.settle_seconds
        settled = all(stored is None or (now - stored).total_seconds() >= settle
                      for _, stored in positions.values())
        if self.replay:
            return newest if settled else None
        lateness = timedelta(seconds=self.rules.evaluation.lateness_seconds)
        idle = self.rules.evaluation.idle_feed_seconds
        # how far each feed still receiving rows has got: its newest event plus the wall time
        # since it was stored (a feed sending every 10 s is not 10 s behind; a feed whose
        # worker is behind holds the watermark back by its backlog)
        busy = [occurred + (now - stored) for occurred, stored in positions.values()
                if stored is not None and (now - stored).total_seconds() < idle]
        return (min(busy) if busy else newest) - lateness

    # ---- evaluation ----
    def _backfill(self) -> tuple[bool, datetime | None]:
        """(a simulated history is still being stored, where the complete one begins)."""
        row = self.conn.execute("SELECT period_from, finished_at IS NULL FROM backfills"
                                " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return False, None
        return row[1], None if row[1] else row[0]

    def _start(self, watermark: datetime, backfilled: datetime | None = None) -> None:
        first = oldest_event(self.conn) or watermark
        start = _floor(first, self.step.total_seconds())
        if not self.replay:
            # live: at most the catch-up limit back, or all of a simulated history
            since = watermark - timedelta(seconds=self.rules.evaluation.max_catchup_seconds)
            start = max(start, _floor(min(since, backfilled or since),
                                      self.step.total_seconds()))
        self.origin = self.step_at = start

    def run_once(self, until: datetime | None = None) -> int:
        """Evaluate the steps up to the watermark (or `until`), one batch; return how many."""
        if self.replay and until is None:
            self._check_new_replay()
        limit = until if until is not None else self.watermark()
        if limit is not None and self.step_at is None:
            backfilling, backfilled = (False, None) if self.replay else self._backfill()
            # a simulated history being stored: wait for all of it (read after the watermark:
            # its row is written before any of its events)
            if backfilling:
                limit = None
            else:
                self._start(limit, backfilled)
        transitions: list[Transition] = []
        steps = 0
        # no events yet: no event-time step, but the pipeline rules still run (a worker that
        # never stored anything, a frozen wall)
        ats: list[datetime] = []
        while (limit is not None and len(ats) < self.rules.evaluation.batch_steps
               and (ats[-1] if ats else self.step_at) + self.step <= limit):
            ats.append((ats[-1] if ats else self.step_at) + self.step)
        # each rule over the whole batch in one query, then the steps in order as if one by one
        with self.evaluator.batch():
            seen = {name: self._evaluate_many(name, rule, [
                at for at in ats
                if not (rule.every_seconds and at.timestamp() % rule.every_seconds)])
                for name, rule in self.event_rules.items()}
        for at in ats:
            for name, rule in self.event_rules.items():
                observations = seen[name].get(at, NOT_DUE)
                if observations is NOT_DUE:
                    continue
                if observations is None:
                    observations = self._evaluate(name, rule, at, self.origin)
                if observations is not None:
                    transitions += self.lifecycle.observe(name, rule.for_seconds, observations, at)
            self.step_at = at
            steps += 1
        if self.pipeline_rules:
            now = self.conn.execute("SELECT now()").fetchone()[0]
            for name, rule in self.pipeline_rules.items():
                if self.wall_clock() < self._pipeline_due.get(name, 0):
                    continue
                self._pipeline_due[name] = self.wall_clock() + (rule.every_seconds or 5)
                observations = self._evaluate(name, rule, now, self.origin or now)
                if observations is not None:
                    transitions += self.lifecycle.observe(name, rule.for_seconds, observations, now)
        # the wall judges the alerts by how recently the engine evaluated: say so even when
        # nothing changed
        if steps or transitions or self.wall_clock() - self._persisted_at >= ALIVE_SECONDS:
            self._persist(transitions)
            self._persisted_at = self.wall_clock()
        return steps

    def _evaluate(self, name: str, rule, at: datetime, origin: datetime
                  ) -> list[Observation] | None:
        """The rule's observations, or None when it cannot be evaluated: then it is set aside
        for this step (its alerts keep their state), counted for the `rule_errors` pipeline
        rule, logged once, and the other rules go on. One bad stored row must not stop the
        engine, nor every restart of it after catch-up re-reads that row."""
        try:
            observations = self.evaluator.evaluate(rule, at, origin)
        except RuleEvaluationError as exc:
            self.failing[name] = self.failing.get(name, 0) + 1
            if self.failing_why.get(name) != str(exc):
                log.error("rule %s set aside at %s, the other rules go on: %s", name,
                          at.isoformat(), exc)
            self.failing_why[name] = str(exc)
            return None
        if name in self.failing:
            log.warning("rule %s evaluates again at %s after %d failures", name, at.isoformat(),
                        self.failing.pop(name))
            self.failing_why.pop(name, None)
        return observations

    def _evaluate_many(self, name: str, rule, ats: list[datetime]
                       ) -> dict[datetime, list[Observation] | None]:
        """The rule's observations at each step of `ats` in one query; when that fails,
        None at every step, so each is evaluated alone (`_evaluate`: set aside, counted,
        logged, step by step, as without batching)."""
        if not ats:
            return {}
        try:
            found = self.evaluator.evaluate_many(rule, ats, self.origin,
                                                 self.lifecycle.has_alert(name))
        except RuleEvaluationError:
            return dict.fromkeys(ats)
        if name in self.failing:
            log.warning("rule %s evaluates again at %s after %d failures", name,
                        ats[0].isoformat(), self.failing.pop(name))
            self.failing_why.pop(name, None)
        return dict(zip(ats, found, strict=True))

    def run_until(self, until: datetime) -> int:
        """Evaluate every step up to `until` (tests, catch-up); return how many."""
        total = 0
        while n := self.run_once(until):
            total += n
        return total

    def run(self, stop: threading.Event, poll_seconds: float = 0.2) -> None:
        """Keep evaluating until `stop` is set."""
        while not stop.is_set():
            try:
                steps = self.run_once()
            except psycopg.OperationalError as exc:
                log.warning("database error, retrying: %s", exc)
                steps = 0
            if steps < self.rules.evaluation.batch_steps:
                stop.wait(poll_seconds)

    # ---- persistence ----
    def _persist(self, transitions: list[Transition]) -> None:
        states = self.lifecycle.states
        inhibit = inhibited(states, self.rules.inhibit, {})
        changed = {t.fingerprint for t in transitions}
        changed |= {fp for fp in set(inhibit) ^ set(self.inhibited)}
        changed |= {fp for fp in inhibit if self.inhibited.get(fp) != inhibit[fp]}
        changed |= {fp for fp, st in states.items() if st.state in ("pending", FIRING, FLAPPING)}
        self.inhibited = inhibit
        with self.conn.transaction():
            if transitions:
                with self.conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO alert_transitions (fingerprint, rule, labels, from_state,"
                        " to_state, at, value) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [(t.fingerprint, t.rule, json.dumps(t.labels, ensure_ascii=False),
                          t.from_state, t.to_state, t.at, t.value) for t in transitions])
            for fp in changed:
                st = states.get(fp)
                if st is None or st.state == INACTIVE:
                    self.conn.execute("DELETE FROM alerts WHERE fingerprint = %s", (fp,))
                else:
                    self._upsert(fp, st, inhibit.get(fp))
            self.conn.execute(
                "INSERT INTO alert_engine_state (engine, step_at, state, updated_at)"
                " VALUES (%s, %s, %s, now()) ON CONFLICT (engine) DO UPDATE SET"
                " step_at = EXCLUDED.step_at, state = EXCLUDED.state, updated_at = now()",
                (self.name, self.step_at, json.dumps(
                    {"origin": self.origin.isoformat() if self.origin else None,
                     "alerts": self.lifecycle.to_json(),
                     "inhibited": inhibit, "run": self.run_id,
                     "rule_errors": {n: {"failures": c, "error": self.failing_why.get(n)}
                                     for n, c in self.failing.items()}},
                    ensure_ascii=False)))

    def _upsert(self, fp: str, st: AlertState, inhibited_by: str | None) -> None:
        rule = self.rules.rules[st.rule]
        updated = (self.step_at if st.rule in self.event_rules
                   else self.conn.execute("SELECT now()").fetchone()[0])
        self.conn.execute(
            "INSERT INTO alerts (fingerprint, rule, labels, severity, state, value, threshold,"
            " summary_vi, summary_en, pending_since, starts_at, ends_at, updated_at,"
            " inhibited_by, episode)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (fingerprint) DO UPDATE SET state = EXCLUDED.state,"
            " value = EXCLUDED.value, threshold = EXCLUDED.threshold,"
            " summary_vi = EXCLUDED.summary_vi, summary_en = EXCLUDED.summary_en,"
            " pending_since = EXCLUDED.pending_since, starts_at = EXCLUDED.starts_at,"
            " ends_at = EXCLUDED.ends_at, updated_at = EXCLUDED.updated_at,"
            " inhibited_by = EXCLUDED.inhibited_by, episode = EXCLUDED.episode,"
            # an acknowledgement belongs to one episode: a new one must be acknowledged anew
            " acknowledged_by = CASE WHEN alerts.episode = EXCLUDED.episode"
            "   THEN alerts.acknowledged_by END,"
            " acknowledged_at = CASE WHEN alerts.episode = EXCLUDED.episode"
            "   THEN alerts.acknowledged_at END,"
            " ack_comment = CASE WHEN alerts.episode = EXCLUDED.episode"
            "   THEN alerts.ack_comment END",
            (fp, st.rule, json.dumps(st.labels, ensure_ascii=False), rule.severity, st.state,
             st.value, st.threshold,
             render(rule.summary_vi, st.labels, st.value, st.threshold,
                    self.province.province.name_vi, "vi"),
             render(rule.summary_en, st.labels, st.value, st.threshold,
                    self.province.province.name_en, "en"),
             st.pending_since, st.starts_at, st.ends_at, updated, inhibited_by,
             max(st.episode, 1)))
