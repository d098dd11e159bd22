-- Password hashes made with older scrypt parameters are replaced at the user's next login
-- (ioc_dashboard/auth.py: OWASP's N = 2^17, r = 8, p = 1; 2^14 before December 2026).
-- The wall may replace only the hash it has just verified (the stored one, given back
-- unchanged), with one of the current parameters: the same password, so the user's other
-- sessions live on. (A wall that could do this without knowing the password could already
-- read every password typed at its login form: this adds no power over accounts.)
CREATE FUNCTION wall_user_password_rehash(p_username text, p_old_hash text, p_new_hash text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    changed integer;
BEGIN
    IF p_new_hash !~ '^scrypt\$131072\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'a new password hash must be scrypt with N=131072, r=8, p=1';
    END IF;
    PERFORM set_config('ioc.password_rehash', 'on', true);
    UPDATE wall_users SET password_hash = p_new_hash
     WHERE username = p_username AND password_hash = p_old_hash AND NOT disabled;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('ioc.password_rehash', 'off', true);
    RETURN changed = 1;
END
$$;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION wall_user_password_rehash(text, text, text) '
                   'SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION wall_user_password_rehash(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wall_user_password_rehash(text, text, text) TO ioc_operator;

-- A new password (`ioc wall-user add`) still ends the user's sessions; a rehash does not.
DROP TRIGGER wall_user_sessions_end ON wall_users;
CREATE TRIGGER wall_user_sessions_end AFTER UPDATE OF disabled, password_hash ON wall_users
    FOR EACH ROW WHEN (NEW.disabled OR (NEW.password_hash IS DISTINCT FROM OLD.password_hash
                       AND coalesce(current_setting('ioc.password_rehash', true), '') <> 'on'))
    EXECUTE FUNCTION wall_user_sessions_end();
