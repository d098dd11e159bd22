-- Plain PostgreSQL: indexes on the bucket expressions of the aggregate views (004), so the
-- wall's "last hour of payments_1m" reads only that hour instead of every stored event.
-- The planner pushes `WHERE bucket >= ...` into the view as a condition on the same
-- expression; TimescaleDB's continuous aggregates need no such index.
CREATE INDEX payments_bucket_1m_idx
    ON payments (date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00'));
CREATE INDEX dossier_events_bucket_1h_idx
    ON dossier_events (date_bin('1 hour', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00'));
CREATE INDEX link_heartbeats_bucket_1m_idx
    ON link_heartbeats (date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00'));
CREATE INDEX portal_health_bucket_1m_idx
    ON portal_health (date_bin('1 minute', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00'));
