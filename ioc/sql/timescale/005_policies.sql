-- TimescaleDB background policies.
-- Refresh: keep the aggregates materialized up to a minute ago; older buckets touched by
-- late events are recomputed within the start_offset window.
SELECT add_continuous_aggregate_policy('payments_1m',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('link_heartbeats_1m',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('portal_health_1m',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('dossiers_1h',
    start_offset => INTERVAL '45 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes');

-- Compression of raw events once they are a week old (segmented the way panels read them).
ALTER TABLE dossier_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'agency_code');
ALTER TABLE portal_health SET (timescaledb.compress, timescaledb.compress_segmentby = 'portal_code');
ALTER TABLE link_heartbeats SET (timescaledb.compress, timescaledb.compress_segmentby = 'link_id');
ALTER TABLE consultations SET (timescaledb.compress, timescaledb.compress_segmentby = 'link_id');
ALTER TABLE payments SET (timescaledb.compress, timescaledb.compress_segmentby = 'category');
SELECT add_compression_policy('dossier_events', INTERVAL '30 days');
SELECT add_compression_policy('portal_health', INTERVAL '7 days');
SELECT add_compression_policy('link_heartbeats', INTERVAL '7 days');
SELECT add_compression_policy('consultations', INTERVAL '30 days');
SELECT add_compression_policy('payments', INTERVAL '7 days');

-- Retention of raw high-rate events; the aggregates keep the history.
SELECT add_retention_policy('portal_health', INTERVAL '90 days');
SELECT add_retention_policy('link_heartbeats', INTERVAL '90 days');
SELECT add_retention_policy('payments', INTERVAL '400 days');
SELECT add_retention_policy('dossier_events', INTERVAL '1100 days');
SELECT add_retention_policy('consultations', INTERVAL '1100 days');
