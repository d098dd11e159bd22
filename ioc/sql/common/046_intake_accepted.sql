-- The event ids the HTTP intake (`ioc intake`) has accepted: an event sent again (a client
-- retrying after a time-out) is answered `duplicate` and not sent to Kafka twice. A row is
-- written in the same transaction as the request's events are produced, and committed only
-- once the broker has acknowledged them, so an id is here only if its event is on Kafka.
-- Rows older than the live limit are pruned: an event that old is refused anyway.
CREATE TABLE intake_accepted (
    event_id    text        PRIMARY KEY,
    source      text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intake_accepted_occurred_at ON intake_accepted (occurred_at);
REVOKE ALL ON intake_accepted FROM ioc_reader;
GRANT DELETE ON intake_accepted TO ioc_writer;

-- How many sources have a live key: the intake listens beyond loopback only when one does.
CREATE FUNCTION intake_sources_live()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT count(*) FROM intake_sources WHERE revoked_at IS NULL
$$;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION intake_sources_live() SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
REVOKE ALL ON FUNCTION intake_sources_live() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intake_sources_live() TO ioc_writer;
