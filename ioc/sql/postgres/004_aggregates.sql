-- Plain PostgreSQL: the same aggregate names as the TimescaleDB continuous aggregates,
-- as views computed from the stored events at query time, so they are always exact
-- (a redelivered event is one row, a late event lands in its own bucket).
-- date_bin with origin 2000-01-03 matches time_bucket's buckets.

CREATE VIEW payments_1m AS
SELECT date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       unit_code, category,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       coalesce(sum(amount_vnd) FILTER (WHERE status = 'succeeded'), 0) AS amount_vnd
  FROM payments
 GROUP BY 1, 2, 3;

CREATE VIEW dossiers_1h AS
SELECT date_bin('1 hour', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       unit_code, agency_code,
       count(*) FILTER (WHERE event_type = 'received') AS received,
       count(*) FILTER (WHERE event_type = 'received' AND channel = 'online') AS received_online,
       count(*) FILTER (WHERE event_type = 'resolved') AS resolved,
       count(*) FILTER (WHERE event_type = 'resolved' AND occurred_at <= due_at) AS resolved_on_time
  FROM dossier_events
 GROUP BY 1, 2, 3;

CREATE VIEW link_heartbeats_1m AS
SELECT date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       link_id, hospital_code, unit_code,
       count(*) AS beats,
       count(*) FILTER (WHERE status = 'down') AS down_beats,
       avg(latency_ms) AS avg_latency_ms,
       max(loss_pct) AS max_loss_pct
  FROM link_heartbeats
 GROUP BY 1, 2, 3, 4;

CREATE VIEW portal_health_1m AS
SELECT date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       portal_code,
       sum(requests) AS requests,
       sum(errors) AS errors,
       max(p95_latency_ms) AS max_p95_latency_ms
  FROM portal_health
 GROUP BY 1, 2;
