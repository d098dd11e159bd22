-- The wall's own tables: operators who may log in, and the heartbeat of every open wall.
-- The dashboard reads through ioc_reader and writes only through the SECURITY DEFINER
-- functions below, called as ioc_operator (the one narrow writable path, as in 010).

-- Operators of the wall. password_hash is "scrypt$n$r$p$salt_hex$hash_hex"
-- (ioc_dashboard/auth.py); nobody but the owner reads it: login goes through
-- wall_user_password_hash(), so the read-only role never sees any hash.
CREATE TABLE wall_users (
    username        text        PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    display_name    text        NOT NULL,
    password_hash   text        NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    disabled        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON wall_users FROM ioc_reader, ioc_writer;

-- One row per open wall (browser): when it last said it is alive and on which page.
-- A wall whose last_seen_at falls behind is frozen (the alert engine's rule reads this).
CREATE TABLE wall_heartbeats (
    wall_id         text        PRIMARY KEY CHECK (length(wall_id) BETWEEN 1 AND 100),
    page            text        NOT NULL,
    kiosk           boolean     NOT NULL DEFAULT false,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    beats           bigint      NOT NULL DEFAULT 1
);

CREATE FUNCTION wall_heartbeat(p_wall_id text, p_page text, p_kiosk boolean, p_seen_at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER AS $$
    INSERT INTO wall_heartbeats AS h (wall_id, page, kiosk, first_seen_at, last_seen_at)
    VALUES (left(p_wall_id, 100), left(p_page, 200), p_kiosk, p_seen_at, p_seen_at)
    ON CONFLICT (wall_id) DO UPDATE
       SET page = EXCLUDED.page, kiosk = EXCLUDED.kiosk,
           last_seen_at = greatest(h.last_seen_at, EXCLUDED.last_seen_at),
           beats = h.beats + 1
$$;

-- For login only: the stored hash of an enabled user (NULL when unknown or disabled).
CREATE FUNCTION wall_user_password_hash(p_username text)
RETURNS TABLE (display_name text, password_hash text) LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT display_name, password_hash FROM wall_users WHERE username = p_username AND NOT disabled
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['wall_heartbeat(text, text, boolean, timestamptz)',
                              'wall_user_password_hash(text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', fn, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ioc_operator', fn);
    END LOOP;
END
$$;
