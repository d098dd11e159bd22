"""Pipeline rules: the running system itself (dead letters, consumer lag, stalled backlogs,
failing rules, restarted parts, brokers out of sync, frozen walls, ingest). They describe
the present, so they read wall time: one step at a time, `at` being the database's now()."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ioc.contract import FEEDS
from streams.alerts.judging import compare
from streams.alerts.lifecycle import Observation
from streams.alerts.reads import StoredReads, newest_stored
from streams.alerts.rules import PipelineRule

RULE = PipelineRule


def observe(reads: StoredReads, rule: PipelineRule, ats: list[datetime], origin: datetime,
            watched: Callable[[Observation], bool] | None = None) -> list[list[Observation]]:
    return [_at(reads, rule, at) for at in ats]


def _at(reads: StoredReads, rule: PipelineRule, at: datetime) -> list[Observation]:
    province = reads.province
    if rule.measure == "dead_letters":
        value = reads.rows("SELECT count(*) FROM dead_letters WHERE received_at > %s",
                           (at - timedelta(seconds=rule.window_seconds),))[0][0]
    elif rule.measure == "rule_errors":  # one alert per rule that cannot be evaluated
        failing = reads.rule_errors() if reads.rule_errors else {}
        return [compare(rule, province, {"rule": name}, float(count))
                for name, count in sorted(failing.items())]
    elif rule.measure == "part_restarts":  # one alert per part ioc up restarted
        return [compare(rule, province, {"part": part}, float(count))
                for part, count in reads.rows(
                    "SELECT part, count(*) FROM part_restarts WHERE restarted_at > %s"
                    " GROUP BY part ORDER BY part",
                    (at - timedelta(seconds=rule.window_seconds),))]
    elif rule.measure == "consumer_lag":
        value = reads.lag() if reads.lag else None
    elif rule.measure == "backlog_stalled_seconds":  # one alert per feed
        stalled = reads.stalled() if reads.stalled else None
        return [compare(rule, province, {"feed": feed},
                        None if stalled is None else stalled.get(feed, 0.0))
                for feed in FEEDS]
    elif rule.measure == "replicas_out_of_sync":  # one alert per broker
        behind = reads.brokers() if reads.brokers else None
        return [compare(rule, province, {"broker": str(broker)}, float(count))
                for broker, count in sorted((behind or {}).items())]
    elif rule.measure == "wall_silent_seconds":  # one alert per kiosk wall
        return [compare(rule, province, {"wall": wall, "page": page}, silent)
                for wall, page, silent in reads.rows(
                    "SELECT wall_id, page, extract(epoch FROM %s - last_seen_at)::float"
                    "  FROM wall_heartbeats WHERE kiosk AND last_seen_at > %s",
                    (at, at - timedelta(seconds=rule.window_seconds)))]
    else:
        newest = newest_stored(reads.conn)
        value = (at - newest).total_seconds() if newest else None
    return [compare(rule, province, {}, value)]
