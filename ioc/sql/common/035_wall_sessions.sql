-- Server-side login sessions of the wall. The browser's signed cookie holds only a random
-- token; its SHA-256 is the key here. A session ends at logout, when its user is disabled,
-- after the idle limit and at its absolute expiry, each checked on every request, so a copied
-- cookie is worth nothing once any of those happened. Written and read only through the
-- SECURITY DEFINER functions below, called as ioc_operator; the read-only role and the
-- stream processors cannot see the table (a token hash is still a credential's fingerprint).

CREATE TABLE wall_sessions (
    token_hash      text        PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    username        text        NOT NULL REFERENCES wall_users (username) ON DELETE CASCADE,
    client          text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX wall_sessions_username_idx ON wall_sessions (username);
REVOKE ALL ON wall_sessions FROM ioc_reader, ioc_writer;

-- Disabling a user, or giving it a new password (`ioc wall-user`), ends its sessions at once:
-- enabling it again later must not bring an old copied cookie back to life.
CREATE FUNCTION wall_user_sessions_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM wall_sessions WHERE username = NEW.username;
    RETURN NEW;
END
$$;
CREATE TRIGGER wall_user_sessions_end AFTER UPDATE OF disabled, password_hash ON wall_users
    FOR EACH ROW WHEN (NEW.disabled OR NEW.password_hash IS DISTINCT FROM OLD.password_hash)
    EXECUTE FUNCTION wall_user_sessions_end();

-- A new session for an enabled user (logins, audited); false when the user cannot log in.
CREATE FUNCTION wall_session_start(p_username text, p_token_hash text, p_max_seconds integer,
                                   p_client text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM wall_users WHERE username = p_username AND NOT disabled) THEN
        RETURN false;
    END IF;
    -- a user's ended sessions are swept at each login
    DELETE FROM wall_sessions WHERE username = p_username AND expires_at <= now();
    INSERT INTO wall_sessions (token_hash, username, client, expires_at)
    VALUES (p_token_hash, p_username, left(coalesce(p_client, ''), 100),
            now() + make_interval(secs => p_max_seconds));
    INSERT INTO audit_log (actor, action, target, detail)
    VALUES (p_username, 'login', 'wall', jsonb_build_object('client', left(p_client, 100)));
    RETURN true;
END
$$;

-- The user of a live session (none when it ended, idled out or its user is disabled); marks
-- it seen (at most once a minute: a wall refreshing every few seconds must not write each time).
CREATE FUNCTION wall_session_user(p_token_hash text, p_idle_seconds integer)
RETURNS TABLE (username text, display_name text) LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    UPDATE wall_sessions s SET last_seen_at = now()
     WHERE s.token_hash = p_token_hash AND s.last_seen_at < now() - interval '60 seconds'
       AND s.last_seen_at > now() - make_interval(secs => p_idle_seconds)
       AND s.expires_at > now();
    RETURN QUERY
        SELECT u.username, u.display_name FROM wall_sessions s
          JOIN wall_users u ON u.username = s.username
         WHERE s.token_hash = p_token_hash AND NOT u.disabled AND s.expires_at > now()
           AND s.last_seen_at > now() - make_interval(secs => p_idle_seconds);
END
$$;

-- Logout: the session ends at once (audited).
CREATE FUNCTION wall_session_end(p_token_hash text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    who text;
BEGIN
    DELETE FROM wall_sessions WHERE token_hash = p_token_hash RETURNING username INTO who;
    IF who IS NOT NULL THEN
        INSERT INTO audit_log (actor, action, target) VALUES (who, 'logout', 'wall');
    END IF;
END
$$;

-- A refused login (wrong password, unknown or disabled user, too many attempts), audited.
CREATE FUNCTION wall_login_refused(p_username text, p_client text, p_reason text)
RETURNS void LANGUAGE sql SECURITY DEFINER AS $$
    INSERT INTO audit_log (actor, action, target, detail)
    VALUES (left(coalesce(p_username, ''), 64), 'login_refused', 'wall',
            jsonb_build_object('client', left(p_client, 100), 'reason', left(p_reason, 100)))
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['wall_session_start(text, text, integer, text)',
                              'wall_session_user(text, integer)',
                              'wall_session_end(text)',
                              'wall_login_refused(text, text, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', fn, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ioc_operator', fn);
    END LOOP;
END
$$;
