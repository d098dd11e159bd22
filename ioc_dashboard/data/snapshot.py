"""One read of everything the wall shows: the statements of `queries` run once, their rows
typed (`rows`), into a `Snapshot`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

import ioc_dashboard.data.queries as q
import ioc_dashboard.data.rows as typed
from ioc.indicators import COUNTS_QUERY, scopes_of


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def read_snapshot(conn: psycopg.Connection, replay_schema: str,
                  resolved_window: timedelta = timedelta(hours=6)) -> tuple[typed.Snapshot, int]:
    """Run the wall's set of queries once; return the snapshot and how many statements ran."""
    runs = sql.Literal(f"{replay_schema}.replay_runs")
    statements = 0

    def rows(query: str | sql.Composed, **params: Any) -> list[tuple]:
        nonlocal statements
        statements += 1
        return conn.execute(query, params or None).fetchall()

    head = rows(sql.SQL(q.NEWEST).format(runs=runs))[0]
    newest = dict(zip(typed.TABLES, head[:5], strict=True))
    dead, dead_hour, has_alerts, has_runs, db_now, backfill_from, backfill_to = head[5:]
    snap: dict[str, Any] = {"newest": newest, "dead_letters": dead, "dead_letters_hour": dead_hour,
                            "alerts_available": has_alerts, "db_now": db_now}
    if backfill_from is not None:
        snap["backfilled"] = (backfill_from, backfill_to)
    if newest["dossier_events"]:
        day = typed.local_day_start(newest["dossier_events"])
        hours = newest["dossier_events"].replace(minute=0, second=0, microsecond=0)
        snap["dossiers_day_start"] = day
        snap["dossiers_hourly"] = tuple(typed.DossierHour(*r) for r in rows(
            q.DOSSIERS_HOURLY, since=min(day, hours - timedelta(hours=q.TREND_HOURS - 1))))
        snap["dossier_scopes"] = tuple(scopes_of(rows(COUNTS_QUERY, since=day,
                                                      until=day + timedelta(days=1))))
        query, params = q.weeks_before(q.DOSSIERS_WEEK, day, day + timedelta(days=1), "1, 2")
        snap["dossiers_weeks"] = tuple(typed.DossierWeekHour(*r) for r in rows(query, **params))
    if newest["link_heartbeats"]:
        at = newest["link_heartbeats"]
        snap["links"] = tuple(typed.LinkMinute(*r) for r in rows(
            q.LINKS, since=_minute(at) - timedelta(minutes=q.TREND_MINUTES)))
        snap["ingest_delay_s"] = rows(q.INGEST_DELAY, since=at - timedelta(minutes=1))[0][0]
        complete = _minute(at) - timedelta(minutes=1)  # the newest one is still filling
        query, params = q.weeks_before(q.LINKS_WEEK, complete, complete + timedelta(minutes=1), "1")
        snap["links_weeks"] = tuple(typed.LinkWeekMinute(*r) for r in rows(query, **params))
    if newest["consultations"]:
        # the telemedicine feed's time (heartbeats come every few seconds, consultations
        # a few an hour): today's running consultations and the weeks' at that time of day
        at = typed.telemedicine_at(newest)
        day = typed.local_day_start(at)
        snap["consultations_active"] = max(0, rows(q.CONSULTATIONS, since=day)[0][0] or 0)
        query, params = q.weeks_before(q.CONSULTATIONS_WEEK, day, at, "1")
        snap["consultations_weeks"] = tuple(typed.ConsultationWeek(*r)
                                            for r in rows(query, **params))
    if newest["payments"]:
        since = _minute(newest["payments"]) - timedelta(minutes=q.TREND_MINUTES)
        snap["payments"] = tuple(typed.PaymentMinute(*r) for r in rows(q.PAYMENTS, since=since))
        query, params = q.weeks_before(q.PAYMENTS_WEEK, since, newest["payments"], "1, 2, 3")
        snap["payments_weeks"] = tuple(typed.PaymentWeekMinute(*r) for r in rows(query, **params))
    if newest["portal_health"]:
        snap["portal"] = tuple(typed.PortalMinute(*r) for r in rows(
            q.PORTAL, since=_minute(newest["portal_health"]) - timedelta(minutes=q.TREND_MINUTES)))
    if has_alerts:
        snap["alerts"] = tuple(typed.Alert(*r) for r in rows(
            q.ALERTS, resolved_since=db_now - resolved_window))
        snap["silences"] = tuple(typed.Silence(*r) for r in rows(q.SILENCES))
        snap["alerts_evaluated_at"] = rows(q.ENGINE)[0][0]
    if has_runs:
        snap["replay_runs"] = tuple(typed.ReplayRun(*r) for r in rows(
            sql.SQL(q.REPLAY_RUNS).format(runs=sql.Identifier(replay_schema, "replay_runs"))))
    return typed.Snapshot(**snap), statements
