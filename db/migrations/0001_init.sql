-- Accounts, password-reset tokens and sessions. Names and e-mail addresses
-- keep the letter case the user typed; the *_key columns hold the folded form
-- that uniqueness and sign-in compare (computed in Go, see db.foldKey).
CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    username           TEXT    NOT NULL,
    username_key       TEXT    NOT NULL UNIQUE,
    email              TEXT    NOT NULL,
    email_key          TEXT    NOT NULL UNIQUE,
    password_hash      TEXT    NOT NULL,
    -- Bumped whenever the password changes; a session remembers the value it
    -- was made with and stops working when they differ.
    credential_version INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- Only the SHA-256 of a reset token is stored: a copy of this file does not
-- let anyone reset a password.
CREATE TABLE reset_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX reset_tokens_user ON reset_tokens (user_id);
CREATE INDEX reset_tokens_expiry ON reset_tokens (expires_at);

-- Fiber's session storage (github.com/gofiber/storage/sqlite3) uses this
-- table; its own CREATE ... IF NOT EXISTS then finds it made.
CREATE TABLE sessions (
    k VARCHAR(64) PRIMARY KEY NOT NULL DEFAULT '',
    v BLOB        NOT NULL,
    e BIGINT      NOT NULL DEFAULT '0'
);
CREATE INDEX e ON sessions (e);

-- Which signed-in sessions belong to which user, so a password change or a
-- reset can end them.
CREATE TABLE user_sessions (
    session_id TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
