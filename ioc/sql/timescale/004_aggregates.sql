-- TimescaleDB: continuous aggregates with real-time aggregation (materialized_only = false),
-- so a query sees the materialized buckets plus the not-yet-materialized recent rows;
-- a late event invalidates its bucket and the refresh policy recomputes it: exact.
-- Same names and columns as the plain PostgreSQL views.

CREATE MATERIALIZED VIEW payments_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', occurred_at) AS bucket,
       unit_code, category,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       coalesce(sum(amount_vnd) FILTER (WHERE status = 'succeeded'), 0) AS amount_vnd
  FROM payments
 GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW dossiers_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', occurred_at) AS bucket,
       unit_code, agency_code,
       count(*) FILTER (WHERE event_type = 'received') AS received,
       count(*) FILTER (WHERE event_type = 'received' AND channel = 'online') AS received_online,
       count(*) FILTER (WHERE event_type = 'resolved') AS resolved,
       count(*) FILTER (WHERE event_type = 'resolved' AND occurred_at <= due_at) AS resolved_on_time
  FROM dossier_events
 GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW link_heartbeats_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', occurred_at) AS bucket,
       link_id, hospital_code, unit_code,
       count(*) AS beats,
       count(*) FILTER (WHERE status = 'down') AS down_beats,
       avg(latency_ms) AS avg_latency_ms,
       max(loss_pct) AS max_loss_pct
  FROM link_heartbeats
 GROUP BY 1, 2, 3, 4
WITH NO DATA;

CREATE MATERIALIZED VIEW portal_health_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', occurred_at) AS bucket,
       portal_code,
       sum(requests) AS requests,
       sum(errors) AS errors,
       max(p95_latency_ms) AS max_p95_latency_ms
  FROM portal_health
 GROUP BY 1, 2
WITH NO DATA;
