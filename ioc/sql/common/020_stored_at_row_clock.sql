-- stored_at measured per row (clock_timestamp) rather than at transaction start (now()):
-- a batch of thousands of rows is written over tens of milliseconds, and end-to-end latency
-- (the wall's p95, `ioc bench`'s p50/p99) should not count the whole batch as stored at its
-- first row. The commit follows the last row within the same write.
ALTER TABLE dossier_events  ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
ALTER TABLE portal_health   ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
ALTER TABLE link_heartbeats ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
ALTER TABLE consultations   ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
ALTER TABLE payments        ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
