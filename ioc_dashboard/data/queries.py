"""The wall's statements: every figure from the aggregate views over a short window ending at
each feed's newest event, the alerts and silences, replay and backtest runs."""

from __future__ import annotations

from datetime import datetime, timedelta

# Kept for the TimescaleDB comparison test and `ioc status`-like uses.
FEED_STATS = "SELECT feed, rows_stored, newest_event_at FROM feed_stats ORDER BY feed"
DEAD_LETTERS = "SELECT count(*) FROM dead_letters"

# Newest event per table (index-only backward scans), dead letters, and which optional
# tables exist (the replay schema is only there once a replay ran).
NEWEST = """
SELECT (SELECT max(occurred_at) FROM dossier_events),
       (SELECT max(occurred_at) FROM portal_health),
       (SELECT max(occurred_at) FROM link_heartbeats),
       (SELECT max(occurred_at) FROM consultations),
       (SELECT max(occurred_at) FROM payments),
       (SELECT count(*) FROM dead_letters),
       (SELECT count(*) FROM dead_letters WHERE received_at >= now() - interval '1 hour'),
       to_regclass('alerts_current') IS NOT NULL,
       to_regclass({runs}) IS NOT NULL,
       now(),
       (SELECT period_from FROM backfills ORDER BY id DESC LIMIT 1),
       (SELECT period_to FROM backfills ORDER BY id DESC LIMIT 1)
"""
DOSSIERS_HOURLY = """
SELECT bucket, sum(received)::bigint, sum(received_online)::bigint, sum(resolved)::bigint,
       sum(resolved_on_time)::bigint
  FROM dossiers_1h WHERE bucket >= %(since)s GROUP BY bucket ORDER BY bucket
"""
LINKS = """
SELECT bucket, link_id, hospital_code, unit_code, beats, down_beats, avg_latency_ms, max_loss_pct
  FROM link_heartbeats_1m WHERE bucket >= %(since)s ORDER BY bucket, link_id
"""
PAYMENTS = """
SELECT bucket, category, sum(succeeded)::bigint, sum(failed)::bigint, sum(amount_vnd)::bigint
  FROM payments_1m WHERE bucket >= %(since)s GROUP BY 1, 2 ORDER BY 1, 2
"""
# The same hour on the same weekday of one week before, moved forward to this week: the
# payments page's typical band, one such part per week. Each part's range is a constant, so
# the planner narrows the aggregate to that hour (through its bucket index on plain
# PostgreSQL); a range computed from a joined row is not pushed below the view's GROUP BY,
# and 30 days of payments were aggregated at every refresh.
PAYMENTS_WEEK = """
SELECT {k}, bucket + interval '{k} weeks', category, sum(succeeded)::bigint, sum(failed)::bigint
  FROM payments_1m WHERE bucket >= %(from{k})s AND bucket <= %(to{k})s GROUP BY 2, 3
"""
# The same weekday of one week before, hour by hour, moved forward to this week: the portal
# page's usual day and the overview tiles' usual ratios so far, one such part per week, as
# for the payments.
DOSSIERS_WEEK = """
SELECT {k}, bucket + interval '{k} weeks', sum(received)::bigint, sum(received_online)::bigint,
       sum(resolved)::bigint, sum(resolved_on_time)::bigint
  FROM dossiers_1h WHERE bucket >= %(from{k})s AND bucket < %(to{k})s GROUP BY 2
"""
# The same weekday of one week before, from midnight to this time of day: consultations
# started minus ended (running then), and how many events that whole day held (none: no
# clinic was open, or the system was not running). One part per week, as for the payments;
# the raw table is read (no aggregate), a few hundred rows a day through its time index.
CONSULTATIONS_WEEK = """
SELECT {k}, count(*) FILTER (WHERE event_type = 'started' AND occurred_at < %(to{k})s)
            - count(*) FILTER (WHERE event_type = 'ended' AND occurred_at < %(to{k})s),
       count(*)
  FROM consultations
 WHERE occurred_at >= %(from{k})s AND occurred_at < %(from{k})s + interval '1 day'
"""
# The newest complete minute of heartbeats on the same weekday of one week before: links up
# (beats, none down) of those heard then. One part per week, as for the payments.
LINKS_WEEK = """
SELECT {k}, count(*) FILTER (WHERE beats > 0 AND down_beats = 0), count(*)
  FROM link_heartbeats_1m WHERE bucket >= %(from{k})s AND bucket < %(to{k})s
"""
PORTAL = """
SELECT bucket, portal_code, requests, errors, max_p95_latency_ms
  FROM portal_health_1m WHERE bucket >= %(since)s ORDER BY 1, 2
"""
# Consultations running: started minus ended since the start of the local day.
CONSULTATIONS = """
SELECT count(*) FILTER (WHERE event_type = 'started') - count(*) FILTER (WHERE event_type = 'ended')
  FROM consultations WHERE occurred_at >= %(since)s
"""
# How long the newest heartbeats took from the hospital to the database (pipeline delay).
INGEST_DELAY = """
SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - occurred_at))
  FROM link_heartbeats WHERE occurred_at >= %(since)s
"""
ALERTS = """
SELECT fingerprint, rule, labels, severity, state, value, threshold, summary_vi, summary_en,
       starts_at, pending_since, ends_at, updated_at, acknowledged_by, acknowledged_at,
       ack_comment, silenced_by
  FROM alerts_current
 WHERE state <> 'resolved' OR ends_at >= %(resolved_since)s
 ORDER BY state = 'resolved', array_position(ARRAY['critical', 'warning', 'info'], severity),
          coalesce(starts_at, pending_since) DESC
 LIMIT 200
"""
# When the alert engine last evaluated (it touches its state at least every few seconds).
ENGINE = "SELECT max(updated_at) FROM alert_engine_state"
SILENCES = """
SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences_active ORDER BY id
"""
REPLAY_RUNS = """
SELECT run_id, recording, seed, speed, rebased, started_at, finished_at, events_sent,
       first_event_at, last_event_at
  FROM {runs} ORDER BY run_id DESC LIMIT 20
"""

# The newest finished `ioc backtest` run of the backtest namespace: what the replay page
# shows (summary, episodes, diff; not every state change).
BACKTEST = """
SELECT run_id, input, rules, against, finished_at, result->'period', result->'summary',
       result->'left_out', result->'against',
       (SELECT coalesce(jsonb_agg(jsonb_build_object('rule', a->'rule', 'labels', a->'labels',
                                                     'episodes', a->'episodes')), '[]')
          FROM jsonb_array_elements(result->'alerts') AS a)
  FROM {runs} WHERE finished_at IS NOT NULL AND (%(run)s::bigint IS NULL OR run_id = %(run)s)
 ORDER BY run_id DESC LIMIT 1
"""
BACKTEST_RUNS = """
SELECT run_id, input, finished_at FROM {runs} WHERE finished_at IS NOT NULL
 ORDER BY run_id DESC LIMIT %(limit)s
"""
BACKTESTS_LISTED = 30  # the newest finished runs offered on the replay page

TREND_MINUTES = 60
TREND_HOURS = 24
TYPICAL_WEEKS = 4  # a usual day: the same weekday, up to this many weeks back


def weeks_before(part: str, since: datetime, until: datetime, order: str
                 ) -> tuple[str, dict[str, datetime]]:
    """`part` (a query on the range %(from{k})s – %(to{k})s) for each of the TYPICAL_WEEKS
    weeks before, as one statement of constant ranges, and its parameters."""
    weeks = range(1, TYPICAL_WEEKS + 1)
    params = {f"{end}{k}": at - timedelta(weeks=k) for k in weeks
              for end, at in (("from", since), ("to", until))}
    return " UNION ALL ".join(part.format(k=k) for k in weeks) + f" ORDER BY {order}", params
