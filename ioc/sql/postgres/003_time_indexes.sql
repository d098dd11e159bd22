-- Plain PostgreSQL: the time indexes TimescaleDB would create with each hypertable.
CREATE INDEX dossier_events_time_idx ON dossier_events (occurred_at DESC);
CREATE INDEX portal_health_time_idx ON portal_health (occurred_at DESC);
CREATE INDEX link_heartbeats_time_idx ON link_heartbeats (occurred_at DESC);
CREATE INDEX consultations_time_idx ON consultations (occurred_at DESC);
CREATE INDEX payments_time_idx ON payments (occurred_at DESC);
