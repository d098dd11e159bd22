-- Each source's health, minute by minute of arrival (issue 41, item 5): events stored, events
-- refused and why (the dead-letter labels, and the intake's), and the delay from event time
-- to arrival. A source is an intake key's name, `prober`, `simulator`, or what a Kafka
-- producer names in the `ioc-source` header (`kafka` when it names none). The worker adds the
-- events it newly stores and the dead letters it newly records, in the same transaction (so
-- a redelivered batch counts nothing twice); the intake adds what it refuses at the door.
CREATE TABLE source_minutes (
    source        text             NOT NULL,
    feed          text             NOT NULL,
    minute        timestamptz      NOT NULL,
    events        bigint           NOT NULL DEFAULT 0,
    refused       bigint           NOT NULL DEFAULT 0,
    reasons       jsonb            NOT NULL DEFAULT '{}',
    delay_ms_sum  double precision NOT NULL DEFAULT 0,
    delay_ms_max  double precision NOT NULL DEFAULT 0,
    last_arrival  timestamptz,
    PRIMARY KEY (source, feed, minute)
);
CREATE INDEX source_minutes_minute ON source_minutes (minute);
GRANT UPDATE, DELETE ON source_minutes TO ioc_writer;
