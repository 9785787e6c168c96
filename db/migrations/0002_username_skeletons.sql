-- User names are also kept unique by their confusable skeleton (Unicode
-- TS #39, computed in Go, see db.SkeletonKey), so "hoIder2" (capital i)
-- cannot sit beside "holder2". Rows that exist when this runs are filled in
-- by the Go step of this migration; where two existing names already share
-- a skeleton the older account keeps it and the later one is left NULL
-- (SQLite's UNIQUE allows many NULLs), so every account survives.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);

-- A name given up by a rename stays reserved for its former owner for a
-- while, so nobody else can take it at once and be mistaken for them.
-- name_key is the folded form or the skeleton of the old name (both are
-- held).
CREATE TABLE held_usernames (
    name_key TEXT    PRIMARY KEY,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until    INTEGER NOT NULL
);
CREATE INDEX held_usernames_user ON held_usernames (user_id);
