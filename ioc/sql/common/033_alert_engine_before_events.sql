-- The engine evaluates its pipeline rules (wall time) before any event arrived, so its saved
-- state may have no event-time step yet.
ALTER TABLE alert_engine_state ALTER COLUMN step_at DROP NOT NULL;
