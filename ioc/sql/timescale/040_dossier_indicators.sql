-- dossiers_1h by receiving centre too, with the counts Decision 766/QĐ-TTg's indicators need
-- (ioc/indicator_sets/decision-766.yaml); the same columns as the plain PostgreSQL view.
-- A continuous aggregate cannot change its query: it is dropped and made again, with its
-- refresh policy. Until the policy's first run (within 10 minutes) real-time aggregation
-- answers from the stored events, so readers see exact figures throughout; buckets older
-- than the policy's 45 days are then computed at query time.
DROP MATERIALIZED VIEW dossiers_1h;

CREATE MATERIALIZED VIEW dossiers_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', occurred_at) AS bucket,
       unit_code, agency_code,
       count(*) FILTER (WHERE event_type = 'received') AS received,
       count(*) FILTER (WHERE event_type = 'received' AND channel = 'online') AS received_online,
       count(*) FILTER (WHERE event_type = 'resolved') AS resolved,
       count(*) FILTER (WHERE event_type = 'resolved' AND occurred_at <= due_at) AS resolved_on_time,
       centre_code,
       count(*) FILTER (WHERE event_type = 'received' AND digitised) AS received_digitised,
       count(*) FILTER (WHERE event_type = 'received' AND digitised IS NOT NULL)
           AS received_digitised_known,
       count(*) FILTER (WHERE event_type = 'received' AND payment IN ('online', 'in_person'))
           AS received_fee,
       count(*) FILTER (WHERE event_type = 'received' AND payment = 'online')
           AS received_paid_online,
       count(*) FILTER (WHERE event_type = 'resolved' AND e_result) AS resolved_e_result,
       count(*) FILTER (WHERE event_type = 'resolved' AND e_result IS NOT NULL)
           AS resolved_e_result_known
  FROM dossier_events
 GROUP BY 1, 2, 3, centre_code
WITH NO DATA;

SELECT add_continuous_aggregate_policy('dossiers_1h',
    start_offset => INTERVAL '45 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes');
