-- One table per kind of event. Every row is one event: UNIQUE (event_id, occurred_at)
-- makes a redelivered event a no-op (the time column is part of the key because
-- TimescaleDB requires it in every unique index of a hypertable).
-- unit_code is the event's first unit (what panels group by); unit_codes keeps them all.

CREATE TABLE dossier_events (
    event_id        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    unit_code       text        NOT NULL,
    unit_codes      text[]      NOT NULL,
    event_type      text        NOT NULL CHECK (event_type IN ('received', 'resolved')),
    dossier_id      text        NOT NULL,
    procedure_code  text        NOT NULL,
    agency_code     text        NOT NULL,
    service_level   text        CHECK (service_level IN ('partial', 'full')),
    channel         text        CHECK (channel IN ('online', 'in_person')),
    due_at          timestamptz NOT NULL,
    result          text        CHECK (result IN ('approved', 'rejected')),
    stored_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, occurred_at)
);

CREATE TABLE portal_health (
    event_id        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    unit_code       text        NOT NULL,
    unit_codes      text[]      NOT NULL,
    portal_code     text        NOT NULL,
    window_seconds  integer     NOT NULL,
    requests        integer     NOT NULL,
    errors          integer     NOT NULL,
    p95_latency_ms  double precision NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, occurred_at)
);

CREATE TABLE link_heartbeats (
    event_id        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    unit_code       text        NOT NULL,
    unit_codes      text[]      NOT NULL,
    link_id         text        NOT NULL,
    hospital_code   text        NOT NULL,
    hub_code        text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('up', 'down')),
    latency_ms      double precision,
    jitter_ms       double precision,
    loss_pct        double precision,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, occurred_at)
);

CREATE TABLE consultations (
    event_id        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    unit_code       text        NOT NULL,
    unit_codes      text[]      NOT NULL,
    event_type      text        NOT NULL CHECK (event_type IN ('started', 'ended')),
    session_id      text        NOT NULL,
    link_id         text        NOT NULL,
    hospital_code   text        NOT NULL,
    hub_code        text        NOT NULL,
    specialty       text        NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, occurred_at)
);

CREATE TABLE payments (
    event_id        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    unit_code       text        NOT NULL,
    unit_codes      text[]      NOT NULL,
    payment_id      text        NOT NULL,
    category        text        NOT NULL,
    channel         text        NOT NULL,
    amount_vnd      bigint      NOT NULL,
    status          text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure_reason  text,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, occurred_at)
);

-- Bad input, kept with where it came from so nothing is lost; one row per source offset.
CREATE TABLE dead_letters (
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    feed            text        NOT NULL,
    reason          text        NOT NULL,
    raw             bytea       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- Per feed: rows stored and the newest event time (status, the wall's freshness).
CREATE VIEW feed_stats AS
SELECT 'portal'::text AS feed, count(*) AS rows_stored, max(occurred_at) AS newest_event_at
  FROM (SELECT occurred_at FROM dossier_events
        UNION ALL SELECT occurred_at FROM portal_health) AS portal
UNION ALL
SELECT 'telemedicine', count(*), max(occurred_at)
  FROM (SELECT occurred_at FROM link_heartbeats
        UNION ALL SELECT occurred_at FROM consultations) AS telemedicine
UNION ALL
SELECT 'payments', count(*), max(occurred_at) FROM payments;
