-- Simulated history `ioc up` stores on a first start with the embedded database
-- (IOC_BACKFILL_HOURS; ioc_command/backfill.py): the period it covers and when it was
-- complete. The wall marks the data as simulated; the alert engine waits until it is
-- complete, then evaluates it from its first hour.
CREATE TABLE backfills (
    id          bigserial   PRIMARY KEY,
    period_from timestamptz NOT NULL,
    period_to   timestamptz NOT NULL,
    seed        bigint      NOT NULL,
    events      bigint      NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
GRANT UPDATE ON backfills TO ioc_writer;
