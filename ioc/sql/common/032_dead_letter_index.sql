-- Dead letters by arrival time: the wall's "last hour" count and the dead_letters pipeline
-- rule read a recent window, which without this index scans the whole table.
CREATE INDEX dead_letters_received_at_idx ON dead_letters (received_at);
