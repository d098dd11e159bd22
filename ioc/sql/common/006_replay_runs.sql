-- Replays of recordings (`ioc replay`). Only the replay schema (<schema>_replay) gets rows:
-- the wall reads the newest run to mark every page as a replay and show its progress.
CREATE TABLE replay_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recording       text        NOT NULL,
    seed            bigint,
    speed           double precision,          -- NULL: as fast as possible (--speed max)
    rebased         boolean     NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,               -- NULL while sending
    events_sent     bigint      NOT NULL DEFAULT 0,
    first_event_at  timestamptz,               -- event time of the first record sent
    last_event_at   timestamptz                -- event time of the newest record sent so far
);
