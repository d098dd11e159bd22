-- TimescaleDB: every event table is a hypertable partitioned by event time.
SELECT create_hypertable('dossier_events', 'occurred_at', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('portal_health', 'occurred_at', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('link_heartbeats', 'occurred_at', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('consultations', 'occurred_at', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('payments', 'occurred_at', chunk_time_interval => INTERVAL '1 day');
