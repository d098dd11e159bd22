-- Whether each dead letter reached the dead-letter topic. The worker publishes a letter after
-- the batch that recorded it commits; when the broker refuses (down, a timeout), the letter
-- stays here unpublished and the worker's sweep publishes it later. Letters of earlier
-- versions count as published (their failures were logged and counted then).
ALTER TABLE dead_letters ADD COLUMN published_at timestamptz;
UPDATE dead_letters SET published_at = received_at;
CREATE INDEX dead_letters_unpublished_idx ON dead_letters (received_at)
    WHERE published_at IS NULL;
GRANT UPDATE (published_at) ON dead_letters TO ioc_writer;
