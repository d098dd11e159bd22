-- Alerts raised by the alert engine (streams/alerts/), their history, operator actions
-- (acknowledgements, silences) with their audit trail, and the notification outbox.
--
-- Times: alerts.starts_at/ends_at/pending_since/updated_at and alert_transitions.at are
-- EVENT time (the stream's watermark step at which the rule changed state), so a replay
-- gives the same values as the live run. recorded_at/created_at/at columns elsewhere are
-- wall time.
--
-- Writers: the engine (ioc_writer) writes alerts, transitions, its own state and the
-- outbox. Operators (ioc_operator) change nothing directly: they call the SECURITY DEFINER
-- functions at the end of this file, which write the change and an audit_log row together.

-- ioc_operator: the people at the wall and on call (dashboard, `ioc alerts`). It owns no
-- table privileges: it may only call the operator functions below. Created here rather
-- than in 001 so databases migrated before this file get it too.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_operator') THEN
        CREATE ROLE ioc_operator LOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO ioc_operator', current_schema());
END
$$;

-- One row per fingerprint (rule + labels): the alert's current episode.
CREATE TABLE alerts (
    fingerprint     text        PRIMARY KEY,
    rule            text        NOT NULL,
    labels          jsonb       NOT NULL,
    severity        text        NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    state           text        NOT NULL CHECK (state IN ('pending', 'firing', 'flapping', 'resolved')),
    value           double precision,
    threshold       double precision,
    summary_vi      text        NOT NULL,
    summary_en      text        NOT NULL,
    pending_since   timestamptz,               -- event time the condition first held (NULL once firing)
    starts_at       timestamptz,               -- event time it began firing (NULL while first pending)
    ends_at         timestamptz,               -- event time it resolved (NULL while active)
    updated_at      timestamptz NOT NULL,      -- event time of the newest evaluation that changed it
    inhibited_by    text,                      -- fingerprint of the alert inhibiting it (no notifications)
    episode         integer     NOT NULL DEFAULT 1,  -- how many times it has started firing
    acknowledged_by text,                      -- acknowledgement of the current episode
    acknowledged_at timestamptz,
    ack_comment     text
);
CREATE INDEX alerts_state_idx ON alerts (state);

-- Every state change, kept: the alert history and the proof of event-time determinism.
-- 'inactive' is the state of no alert (a pending alert that cleared before firing).
CREATE TABLE alert_transitions (
    id              bigserial   PRIMARY KEY,
    fingerprint     text        NOT NULL,
    rule            text        NOT NULL,
    labels          jsonb       NOT NULL,
    from_state      text        NOT NULL CHECK (from_state IN ('inactive', 'pending', 'firing', 'flapping', 'resolved')),
    to_state        text        NOT NULL CHECK (to_state IN ('inactive', 'pending', 'firing', 'flapping', 'resolved')),
    at              timestamptz NOT NULL,      -- event time
    value           double precision,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_transitions_fp_idx ON alert_transitions (fingerprint, at);
CREATE INDEX alert_transitions_at_idx ON alert_transitions (at);

-- Silences: label matchers, a time range (wall time), who made it and why.
-- matchers: [{"name": "link_id", "op": "=", "value": "BV-01"}, ...]; op is one of
-- =, !=, =~, !~ (regular expressions match the whole value). The labels matched are the
-- alert's labels plus alertname (the rule) and severity.
CREATE TABLE silences (
    id              bigserial   PRIMARY KEY,
    matchers        jsonb       NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    created_by      text        NOT NULL,
    comment         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expired_at      timestamptz,
    expired_by      text,
    CHECK (ends_at > starts_at)
);

-- Every operator action (acknowledge, silence, expire), by whom and when.
CREATE TABLE audit_log (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text        NOT NULL,
    action          text        NOT NULL,
    target          text        NOT NULL,
    detail          jsonb       NOT NULL DEFAULT '{}'
);

-- Notification groups (Alertmanager-style group_by/group_wait/group_interval/repeat_interval),
-- kept so a restarted notifier neither forgets nor repeats what it already sent.
CREATE TABLE notification_groups (
    group_key       text        PRIMARY KEY,
    group_labels    jsonb       NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),  -- wall time the group got its first alert
    last_flush_at   timestamptz,                         -- wall time of the last notification
    sent            jsonb       NOT NULL DEFAULT '{}'    -- fingerprint -> "state@starts_at" last notified
);

-- The durable outbox: one row per notification per receiver. Written in the same transaction
-- as the group state, delivered with retries and backoff; a row is marked delivered only
-- after the receiver answered 2xx, so a crash can repeat a notification at most once.
CREATE TABLE notification_outbox (
    id              bigserial   PRIMARY KEY,
    receiver        text        NOT NULL,      -- webhook URL, or 'alertmanager'
    kind            text        NOT NULL CHECK (kind IN ('webhook', 'alertmanager')),
    group_key       text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at)
    WHERE delivered_at IS NULL;

-- The engine's own position and lifecycle memory (one row per engine), saved with the
-- alerts of each step so a restart resumes at the next event-time step.
CREATE TABLE alert_engine_state (
    engine          text        PRIMARY KEY,
    step_at         timestamptz NOT NULL,      -- last event-time step evaluated
    state           jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

GRANT UPDATE, DELETE ON alerts, notification_groups, alert_engine_state TO ioc_writer;
GRANT UPDATE ON notification_outbox TO ioc_writer;

-- Does a list of matchers select these labels?
CREATE FUNCTION silence_matches(matchers jsonb, labels jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(bool_and(CASE m->>'op'
        WHEN '='  THEN coalesce(labels->>(m->>'name'), '') =  (m->>'value')
        WHEN '!=' THEN coalesce(labels->>(m->>'name'), '') <> (m->>'value')
        WHEN '=~' THEN coalesce(labels->>(m->>'name'), '') ~  ('^(?:' || (m->>'value') || ')$')
        WHEN '!~' THEN coalesce(labels->>(m->>'name'), '') !~ ('^(?:' || (m->>'value') || ')$')
        ELSE false END), false)
    FROM jsonb_array_elements(matchers) AS m
$$;

-- Alerts as the wall and `ioc status` show them: with the active silence covering each.
CREATE VIEW alerts_current AS
SELECT a.*,
       (SELECT s.id FROM silences s
         WHERE s.expired_at IS NULL AND s.starts_at <= now() AND s.ends_at > now()
           AND silence_matches(s.matchers, a.labels
               || jsonb_build_object('alertname', a.rule, 'severity', a.severity))
         ORDER BY s.id LIMIT 1) AS silenced_by
  FROM alerts a;

CREATE VIEW silences_active AS
SELECT * FROM silences WHERE expired_at IS NULL AND ends_at > now();

-- ---- Operator actions: the one narrow writable path (SECURITY DEFINER, audited) ----

CREATE FUNCTION alert_acknowledge(p_fingerprint text, p_actor text, p_comment text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF coalesce(btrim(p_actor), '') = '' THEN
        RAISE EXCEPTION 'acknowledge: who is acknowledging (actor) is required';
    END IF;
    IF coalesce(btrim(p_comment), '') = '' THEN
        RAISE EXCEPTION 'acknowledge: a comment is required';
    END IF;
    UPDATE alerts SET acknowledged_by = p_actor, acknowledged_at = now(), ack_comment = p_comment
     WHERE fingerprint = p_fingerprint;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'acknowledge: no alert with fingerprint %', p_fingerprint;
    END IF;
    INSERT INTO audit_log (actor, action, target, detail)
    VALUES (p_actor, 'acknowledge', p_fingerprint, jsonb_build_object('comment', p_comment));
END
$$;

CREATE FUNCTION silence_create(p_matchers jsonb, p_starts_at timestamptz, p_ends_at timestamptz,
                               p_actor text, p_comment text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    m jsonb;
    new_id bigint;
BEGIN
    IF coalesce(btrim(p_actor), '') = '' THEN
        RAISE EXCEPTION 'silence: who is silencing (actor) is required';
    END IF;
    IF coalesce(btrim(p_comment), '') = '' THEN
        RAISE EXCEPTION 'silence: a comment is required';
    END IF;
    IF p_matchers IS NULL OR jsonb_typeof(p_matchers) <> 'array' OR jsonb_array_length(p_matchers) = 0 THEN
        RAISE EXCEPTION 'silence: matchers must be a non-empty list of {name, op, value}';
    END IF;
    FOR m IN SELECT * FROM jsonb_array_elements(p_matchers) LOOP
        IF jsonb_typeof(m) <> 'object' OR coalesce(m->>'name', '') = '' OR m->>'value' IS NULL
           OR coalesce(m->>'op', '') NOT IN ('=', '!=', '=~', '!~') THEN
            RAISE EXCEPTION 'silence: bad matcher % (expected {"name", "op": =|!=|=~|!~, "value"})', m;
        END IF;
        IF m->>'op' IN ('=~', '!~') THEN
            BEGIN
                PERFORM '' ~ (m->>'value');
            EXCEPTION WHEN invalid_regular_expression THEN
                RAISE EXCEPTION 'silence: bad regular expression in matcher %', m;
            END;
        END IF;
    END LOOP;
    IF p_starts_at IS NULL OR p_ends_at IS NULL OR p_ends_at <= p_starts_at THEN
        RAISE EXCEPTION 'silence: ends_at must be after starts_at';
    END IF;
    INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)
    VALUES (p_matchers, p_starts_at, p_ends_at, p_actor, p_comment)
    RETURNING id INTO new_id;
    INSERT INTO audit_log (actor, action, target, detail)
    VALUES (p_actor, 'silence', 'silence/' || new_id,
            jsonb_build_object('matchers', p_matchers, 'starts_at', p_starts_at,
                               'ends_at', p_ends_at, 'comment', p_comment));
    RETURN new_id;
END
$$;

CREATE FUNCTION silence_expire(p_id bigint, p_actor text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF coalesce(btrim(p_actor), '') = '' THEN
        RAISE EXCEPTION 'expire: who is expiring the silence (actor) is required';
    END IF;
    UPDATE silences SET expired_at = now(), expired_by = p_actor
     WHERE id = p_id AND expired_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'expire: no unexpired silence with id %', p_id;
    END IF;
    INSERT INTO audit_log (actor, action, target, detail)
    VALUES (p_actor, 'expire', 'silence/' || p_id, '{}');
END
$$;

-- SECURITY DEFINER functions run with this schema fixed in their search_path (not the
-- caller's), and only ioc_operator (and the owner) may call them.
DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['alert_acknowledge(text, text, text)',
                              'silence_create(jsonb, timestamptz, timestamptz, text, text)',
                              'silence_expire(bigint, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', fn, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ioc_operator', fn);
    END LOOP;
END
$$;
