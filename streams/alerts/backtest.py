"""`ioc backtest`: how the alert rules fire over a recording or over stored history, in event
time, with the same sink and the same engine as the live path, in a namespace of its own
(`Settings.for_backtest`): it never touches the live alerts and nothing notifies from it.

A run loads its input into the backtest schema (a recording through the event contract, the
province's code check and the sink; stored history copied from the live tables), evaluates
the rules step by step from the first event to the last, and reads back every state change.
Rules that watch the running system on wall time (pipeline rules, the watchdog) mean nothing
on past data: they are left out, and the result says which. A second rules file
(`against`) runs on the same data, and the result lists the firing episodes that differ.
The result is deterministic: the same input and rules give byte-identical JSON.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql

from ioc import contract
from ioc.calendar import WorkCalendar
from ioc.db import connect, connect_async
from ioc.errors import ContractError, SettingsError
from ioc.known_codes import KnownCodes
from ioc.province import Province
from streams.alerts.engine import Engine
from streams.alerts.lifecycle import FIRING, RESOLVED
from streams.alerts.rules import (
    AbsenceRule,
    LinkQualityRule,
    PipelineRule,
    RulesFile,
    WatchdogRule,
)
from streams.sink import TABLE_COLUMNS, EventSink

#: rules about the running system (wall time), not the data: left out of a backtest
WALL_TIME_RULES = (PipelineRule, WatchdogRule)
ALERT_TABLES = ("alert_transitions", "alerts", "alert_engine_state", "notification_outbox",
                "notification_groups")
BATCH = 5000  # events stored per transaction
WORKERS = os.cpu_count() or 1  # processes evaluating the rules: one engine per core


def event_time_rules(rules: RulesFile) -> tuple[RulesFile, list[str]]:
    """The rules a backtest evaluates, and the names of those it leaves out."""
    kept = {n: r for n, r in rules.rules.items() if not isinstance(r, WALL_TIME_RULES)}
    if not kept:
        raise SettingsError("the rules file has no event-time rule to backtest (only pipeline "
                            "and watchdog rules)")
    return rules.model_copy(update={"rules": kept}), sorted(set(rules.rules) - set(kept))


@dataclass(frozen=True)
class Loaded:
    """What a run read: events stored, refused (with how many per reason label), period."""

    stored: int
    refused: dict[str, int]
    first: datetime | None
    last: datetime | None


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def clear(conn: psycopg.Connection) -> None:
    """Empty the backtest schema's events and alerts (not its runs); its plain event tables
    unlogged (`unlogged`) and with their unique constraint (`unique_again`), no event table
    autovacuumed."""
    tables = [*TABLE_COLUMNS, "dead_letters", *ALERT_TABLES]
    conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(
        sql.SQL(", ").join(map(sql.Identifier, tables))))
    unlogged(conn)
    unique_again(conn)
    # a run loads millions of rows and then reads them: autovacuum would vacuum and analyze
    # them midway through the evaluation, on the same two cores (the run analyzes them once)
    for table in TABLE_COLUMNS:
        conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = off)").format(
            sql.Identifier(table)))


def plain_event_tables(conn: psycopg.Connection) -> list[str]:
    """The schema's event tables that are not TimescaleDB hypertables (which can be neither
    unlogged nor stripped of a constraint the way a plain table can)."""
    hypertables: set[str] = set()
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        hypertables = {t for (t,) in conn.execute(
            "SELECT table_name FROM _timescaledb_catalog.hypertable"
            " WHERE schema_name = current_schema()")}
    return [t for t in TABLE_COLUMNS if t not in hypertables]


def unlogged(conn: psycopg.Connection) -> list[str]:
    """Make the schema's plain event tables unlogged (once; cheap when they are empty);
    return which it changed. A backtest's events are a copy or a recording that each run
    reloads: a crash-safe log of them is not worth the quarter of the storing time it costs
    (30 days of history are 16 M rows)."""
    changed = [t for (t,) in conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
        " AND relkind = 'r' AND relpersistence = 'p' AND relname = ANY(%s) ORDER BY relname",
        (plain_event_tables(conn),)).fetchall()]
    for table in changed:
        conn.execute(sql.SQL("ALTER TABLE {} SET UNLOGGED").format(sql.Identifier(table)))
    return changed


def _unique(conn: psycopg.Connection, tables: list[str]) -> dict[str, str]:
    """table -> name of its unique (event_id, occurred_at), for those of `tables` that
    have it."""
    return dict(conn.execute(
        "SELECT c.relname, k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace AND k.contype = 'u'"
        " AND pg_get_constraintdef(k.oid) = 'UNIQUE (event_id, occurred_at)'"
        " AND c.relname = ANY(%s)", (tables,)).fetchall())


def without_unique(conn: psycopg.Connection) -> list[str]:
    """Drop the unique (event_id, occurred_at) constraint of the plain event tables before a
    copy of stored history: its rows come from tables that keep that constraint, and
    checking it again takes half the copy's time (random event ids across a 14 M-row index).
    `clear` puts it back, on empty tables, before the next run (which may store a recording
    through the sink, whose ON CONFLICT needs it). Return the tables changed."""
    found = _unique(conn, plain_event_tables(conn))
    for table, name in sorted(found.items()):
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(table), sql.Identifier(name)))
    return sorted(found)


def unique_again(conn: psycopg.Connection) -> list[str]:
    """Give back the plain event tables their unique (event_id, occurred_at) constraint where
    `without_unique` dropped it; return the tables changed."""
    tables = plain_event_tables(conn)
    missing = sorted(set(tables) - set(_unique(conn, tables)))
    for table in missing:
        conn.execute(sql.SQL("ALTER TABLE {} ADD UNIQUE (event_id, occurred_at)").format(
            sql.Identifier(table)))
    return missing


def load_recording(url: str, schema: str, records: Iterable[Any], codes: KnownCodes,
                   now: datetime, label: Callable[[str], str]) -> Loaded:
    """Store a recording's records (each with `feed` and `value` bytes) through the contract,
    the code check and the sink, as the replay worker would (no age limit); refused events
    are counted by reason label."""
    refused: dict[str, int] = {}
    stored = 0
    first: datetime | None = None
    last: datetime | None = None

    async def store() -> None:
        nonlocal stored, first, last
        sink = EventSink(lambda: connect_async(url, schema))
        try:
            for batch in _batches(records, BATCH):
                events = []
                for r in batch:
                    try:
                        events.append(codes.check(contract.decode(r.value, r.feed, now)))
                    except ContractError as exc:
                        key = label(str(exc))
                        refused[key] = refused.get(key, 0) + 1
                result = await sink.write(events)
                stored += result.stored
                for e in events:
                    first = e.occurred_at if first is None else min(first, e.occurred_at)
                    last = e.occurred_at if last is None else max(last, e.occurred_at)
        finally:
            await sink.close()

    asyncio.run(store())
    return Loaded(stored, dict(sorted(refused.items())), first, last)


def copy_history(conn: psycopg.Connection, live_schema: str, since: datetime,
                 until: datetime) -> Loaded:
    """Copy stored events of [since, until) from the live schema (same migrations, same
    columns) into the backtest schema."""
    stored = 0
    without_unique(conn)
    # the plain event tables' indexes are built once over the copied rows, not row by row
    # (a third of the time): in one transaction, so a failed copy leaves them as they were
    with conn.transaction():
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE connamespace = current_schema()::regnamespace) ORDER BY indexname",
            (plain_event_tables(conn),)).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for table in TABLE_COLUMNS:
            stored += conn.execute(sql.SQL(
                "INSERT INTO {} SELECT * FROM {} WHERE occurred_at >= %s AND occurred_at < %s"
            ).format(sql.Identifier(table), sql.Identifier(live_schema, table)),
                (since, until)).rowcount
        for _, definition in indexes:
            conn.execute(definition)
    parts = [sql.SQL("SELECT min(occurred_at) AS a, max(occurred_at) AS b FROM {}").format(
        sql.Identifier(t)) for t in TABLE_COLUMNS]
    first, last = conn.execute(sql.SQL("SELECT min(a), max(b) FROM ({}) AS t").format(
        sql.SQL(" UNION ALL ").join(parts))).fetchone()
    return Loaded(stored, {}, first, last)


def split(rules: RulesFile, parts: int) -> list[RulesFile]:
    """The rules in at most `parts` groups of about equal evaluation cost, each evaluated by
    its own process: the rules are independent of each other (each has its own alerts and
    lifecycle), so the groups give the same state changes as one engine over all of them.
    Greedy, heaviest first, onto the lightest group; each group keeps the file's order."""
    order = list(rules.rules)
    loads = [0.0] * max(1, min(parts, len(order)))
    groups: list[list[str]] = [[] for _ in loads]
    for name in sorted(order, key=lambda n: -rule_cost(rules.rules[n])):
        lightest = loads.index(min(loads))
        loads[lightest] += rule_cost(rules.rules[name])
        groups[lightest].append(name)
    return [rules.model_copy(update={"rules": {n: rules.rules[n] for n in order if n in group}})
            for group in groups if group]


def rule_cost(rule: Any) -> float:
    """A rule's share of a backtest's evaluation time, relative: the rules over heartbeats
    (27 links, about a million rows a day) slide every row of their window; the others read
    fewer rows or one aggregate a step (measured per rule: docs/performance.md)."""
    if isinstance(rule, LinkQualityRule):
        return 3.0 if rule.measure == "down_ratio" else 4.0
    if isinstance(rule, AbsenceRule):
        return 3.0
    return 1.0


#: per worker process of an `evaluate`: the event time its engine has reached (epoch s)
_reached: Any = None


def _share(reached: Any) -> None:
    global _reached
    _reached = reached


def _evaluate_part(index: int, url: str, schema: str, rules: RulesFile, province: Province,
                   calendar: WorkCalendar, until: datetime,
                   progress: Callable[[datetime], None] | None = None) -> list[tuple]:
    """One group's engine over the stored events to `until`, in this process (`progress`)
    or in a worker process (which tells its progress through `_reached`); its state
    changes in the order one engine writes them."""
    with connect(url, schema, autocommit=True) as conn:
        engine = Engine(conn, rules, province, calendar, replay=True, name=f"backtest-{index}")
        while engine.run_once(until):
            if progress is not None:
                progress(engine.step_at)
            elif _reached is not None:
                _reached[index] = engine.step_at.timestamp()
        return conn.execute("SELECT rule, labels, from_state, to_state, at, value"
                            " FROM alert_transitions WHERE rule = ANY(%s) ORDER BY at, id",
                            (list(rules.rules),)).fetchall()


def evaluate(conn: psycopg.Connection, url: str, schema: str, rules: RulesFile,
             province: Province, calendar: WorkCalendar, until: datetime,
             progress: Callable[[datetime], None] = lambda at: None,
             workers: int = 1) -> list[dict[str, Any]]:
    """Run the engine over the stored events from the first to `until`; return every state
    change in order (rule, labels, from, to, at, value). `conn` is a connection to `url`,
    on `schema`. With `workers` > 1 the rules are split (`split`) over that many processes,
    each with its own connection: one engine keeps about one core busy (Python sliding
    windows, then the database), and the result is the same: the changes merged by time,
    then by the rule's place in the file, as one engine writes them."""
    for table in ALERT_TABLES:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))
    parts = split(rules, workers)
    if len(parts) == 1:
        rows = _evaluate_part(0, url, schema, rules, province, calendar, until, progress)
    else:
        context = multiprocessing.get_context("spawn")  # never fork a live connection
        reached = context.Array("d", len(parts), lock=False)
        with ProcessPoolExecutor(len(parts), mp_context=context, initializer=_share,
                                 initargs=(reached,)) as pool:
            futures = [pool.submit(_evaluate_part, n, url, schema, part, province,
                                   calendar, until) for n, part in enumerate(parts)]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=1.0, return_when=FIRST_EXCEPTION)
                if any(f.done() and f.exception() for f in futures):
                    break
                if all(reached):
                    progress(datetime.fromtimestamp(min(reached), UTC))
            found = [f.result() for f in futures]  # a worker's error, raised here
        place = {name: n for n, name in enumerate(rules.rules)}
        # stable: one rule's changes at one time keep its engine's order
        rows = sorted((r for part in found for r in part), key=lambda r: (r[4], place[r[0]]))
    return [{"rule": r, "labels": labels, "from": f, "to": to, "at": at.isoformat(),
             "value": None if v is None else round(v, 6)} for r, labels, f, to, at, v in rows]


def _key(change: dict[str, Any]) -> tuple[str, str]:
    return change["rule"], json.dumps(change["labels"], sort_keys=True, ensure_ascii=False)


def alerts_of(changes: list[dict[str, Any]], end: datetime) -> tuple[list[dict], dict]:
    """Per alert (rule and labels): its state changes and firing episodes; per rule: how many
    episodes fired and for how long in all (an episode still firing counts until `end`)."""
    by_alert: dict[tuple[str, str], dict[str, Any]] = {}
    for c in changes:
        alert = by_alert.setdefault(_key(c), {"rule": c["rule"], "labels": c["labels"],
                                              "changes": [], "episodes": []})
        alert["changes"].append({k: c[k] for k in ("from", "to", "at", "value")})
        episodes = alert["episodes"]
        open_ = bool(episodes) and episodes[-1]["ends_at"] is None
        if c["to"] == FIRING and not open_:
            episodes.append({"starts_at": c["at"], "ends_at": None})
        elif c["to"] == RESOLVED and open_:
            episodes[-1]["ends_at"] = c["at"]
    summary: dict[str, dict[str, float]] = {}
    for alert in by_alert.values():
        s = summary.setdefault(alert["rule"], {"fired": 0, "firing_seconds": 0.0})
        for e in alert["episodes"]:
            ends = datetime.fromisoformat(e["ends_at"]) if e["ends_at"] else end
            s["fired"] += 1
            s["firing_seconds"] += (ends - datetime.fromisoformat(e["starts_at"])).total_seconds()
    alerts = [by_alert[k] for k in sorted(by_alert)]
    return alerts, {r: summary[r] for r in sorted(summary)}


def episodes_of(alerts: list[dict]) -> set[tuple[str, str, str, str | None]]:
    """(rule, labels, starts_at, ends_at) of every firing episode."""
    return {(a["rule"], json.dumps(a["labels"], sort_keys=True, ensure_ascii=False),
             e["starts_at"], e["ends_at"]) for a in alerts for e in a["episodes"]}


def diff(ours: list[dict], theirs: list[dict]) -> dict[str, list[dict]]:
    """The firing episodes only one of two runs has."""
    a, b = episodes_of(ours), episodes_of(theirs)

    def listed(found: set) -> list[dict]:
        return [{"rule": r, "labels": json.loads(labels), "starts_at": s, "ends_at": e}
                for r, labels, s, e in sorted(found, key=lambda x: (x[0], x[1], x[2]))]

    return {"only_with_rules": listed(a - b), "only_with_against": listed(b - a)}


class Progress:
    """Event time reached, on stderr, at most every `every` seconds."""

    def __init__(self, first: datetime, last: datetime, out: TextIO = sys.stderr,
                 every: float = 2.0, what: str = "rules"):
        self.first, self.last, self.out, self.every, self.what = first, last, out, every, what
        self._shown = 0.0
        self.started = time.monotonic()

    def __call__(self, at: datetime) -> None:
        now = time.monotonic()
        if now - self._shown < self.every:
            return
        self._shown = now
        span = (self.last - self.first).total_seconds() or 1.0
        done = min(1.0, (at - self.first).total_seconds() / span)
        print(f"backtest: {self.what} evaluated to {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
              f" ({done:.0%}, {now - self.started:.0f} s)", file=self.out, flush=True)


def run(settings_url: str, schema: str, live_schema: str, rules: RulesFile,
        against: RulesFile | None, province: Province, calendar: WorkCalendar,
        codes: KnownCodes, *, recording: tuple[str, Iterable[Any]] | None = None,
        since: datetime | None = None,
        until: datetime | None = None, names: tuple[str, str | None] = ("rules", None),
        label: Callable[[str], str] = str, out: TextIO = sys.stderr,
        timings: dict[str, float] | None = None, workers: int = WORKERS) -> tuple[int, dict]:
    """One backtest of `recording` (its name and its records) or of the stored history of
    [since, until); return its run id (kept in the schema's backtest_runs) and its result.
    `workers`: processes the rules are evaluated in (`evaluate`; default one per core).
    `timings` receives the seconds spent storing and evaluating (the bench reads them)."""
    timings = {} if timings is None else timings
    kept, left_out = event_time_rules(rules)
    other = event_time_rules(against)[0] if against is not None else None
    what = recording[0] if recording else f"{since.isoformat()} – {until.isoformat()}"
    with connect(settings_url, schema, autocommit=True) as conn:
        run_id = conn.execute("INSERT INTO backtest_runs (input, rules, against) VALUES"
                              " (%s, %s, %s) RETURNING run_id",
                              (what, names[0], names[1])).fetchone()[0]
        print(f"backtest: run {run_id} in schema {schema}", file=out, flush=True)
        clear(conn)
        began = time.perf_counter()
        if recording is not None:
            loaded = load_recording(settings_url, schema, recording[1], codes,
                                    datetime.now(UTC), label)
        else:
            loaded = copy_history(conn, live_schema, since, until)
        # statistics of the rows just loaded, taken once (autovacuum is off for these tables)
        for table in TABLE_COLUMNS:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        timings["store"] = time.perf_counter() - began
        began = time.perf_counter()
        print(f"backtest: {loaded.stored} events stored"
              + (f", {sum(loaded.refused.values())} refused" if loaded.refused else ""),
              file=out, flush=True)
        result: dict[str, Any] = {
            "input": {"recording": Path(recording[0]).name} if recording else {
                "from": since.isoformat(), "to": until.isoformat()},
            "events": {"stored": loaded.stored, "refused": loaded.refused},
            "period": {"first_event": loaded.first.isoformat() if loaded.first else None,
                       "last_event": loaded.last.isoformat() if loaded.last else None},
            "left_out": left_out,
        }
        if loaded.first is None or loaded.last is None:
            result |= {"alerts": [], "summary": {}}
        else:
            changes = evaluate(conn, settings_url, schema, kept, province, calendar,
                               loaded.last, Progress(loaded.first, loaded.last, out), workers)
            result["alerts"], result["summary"] = alerts_of(changes, loaded.last)
            if other is not None:
                theirs = alerts_of(evaluate(conn, settings_url, schema, other, province,
                                            calendar, loaded.last,
                                            Progress(loaded.first, loaded.last, out,
                                                     what="against"), workers), loaded.last)
                result["against"] = {"summary": theirs[1],
                                     **diff(result["alerts"], theirs[0])}
        timings["evaluate"] = time.perf_counter() - began
        conn.execute("UPDATE backtest_runs SET finished_at = now(), result = %s"
                     " WHERE run_id = %s", (json.dumps(result, ensure_ascii=False), run_id))
    return run_id, result

