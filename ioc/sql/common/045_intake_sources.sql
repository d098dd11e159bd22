-- Sources of events from outside the IOC (`ioc intake`, ioc/sources.py): each a name, the
-- feeds it may send and the entity codes it may name (empty: any of the province's), and
-- one key, stored only as its SHA-256 (the key itself is shown once, when it is made). Only
-- the owner (`ioc sources`) reads or writes the table; the intake, as ioc_writer, looks a key
-- up through intake_source_by_key() and sees nothing else.
CREATE TABLE intake_sources (
    name            text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    feeds           text[]      NOT NULL CHECK (cardinality(feeds) > 0
                                    AND feeds <@ ARRAY['portal', 'telemedicine', 'payments']),
    codes           text[]      NOT NULL DEFAULT '{}',
    key_hash        text        NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz,
    revoked_at      timestamptz
);
REVOKE ALL ON intake_sources FROM ioc_reader, ioc_writer;

-- The live source of a key's hash (no row: unknown or revoked).
CREATE FUNCTION intake_source_by_key(p_key_hash text)
RETURNS TABLE (name text, feeds text[], codes text[], key_hash text)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT name, feeds, codes, key_hash FROM intake_sources
     WHERE key_hash = p_key_hash AND revoked_at IS NULL
$$;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION intake_source_by_key(text) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
REVOKE ALL ON FUNCTION intake_source_by_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intake_source_by_key(text) TO ioc_writer;
