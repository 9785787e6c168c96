-- The limits that guard accounts (sign-in, sign-up, reset), counted here
-- so that they hold across every node that shares this database (see
-- db.CountEvent). SQLite has no such tables: one node counts in memory.

-- Events per key in windows of window_s seconds aligned on the epoch
-- (slot = floor(unix time / window_s)); a row is kept until the window
-- after its own ends, while it still weighs in the sliding estimate.
CREATE TABLE rate_counts (
    key        TEXT    NOT NULL,
    window_s   BIGINT  NOT NULL,
    slot       BIGINT  NOT NULL,
    hits       INTEGER NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (key, window_s, slot)
);
CREATE INDEX rate_counts_expiry ON rate_counts (expires_at);

-- Keys remembered for a while (an account's recent sign-in addresses).
CREATE TABLE rate_marks (
    key   TEXT   PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX rate_marks_until ON rate_marks (until);
