-- Parts of `ioc up` (worker, alerter, wall, ...) that exited and were started again: written
-- by `ioc up` as the owner, read by the alert engine's part_restarts rule and the wall.
CREATE TABLE part_restarts (
    part            text        NOT NULL,
    exit_code       integer     NOT NULL,
    restart         integer     NOT NULL,   -- its restarts within the crash-loop window
    restarted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX part_restarts_at_idx ON part_restarts (restarted_at);
