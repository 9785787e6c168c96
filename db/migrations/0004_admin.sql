-- Administration: an admin flag, disabled accounts, when an account was
-- last seen, the sign-up mode and invitations.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
-- Unix time the account was disabled; NULL while it may sign in.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Unix time of the last sign-in or request (written at most every few
-- minutes); NULL until the account is next seen.
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;

-- A database from before this release has accounts but no admin: its
-- oldest account becomes the admin, as it would have been had it been
-- created under this release (the first account is the admin).
UPDATE users SET is_admin = 1
WHERE id = (SELECT min(id) FROM users)
  AND NOT EXISTS (SELECT 1 FROM users WHERE is_admin = 1);

-- Settings changed at run time on /admin; a missing key has its default
-- (signup_mode: open).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Single-use sign-up links. As with reset tokens only the SHA-256 of the
-- token is stored: the link is shown once, when it is made.
CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    revoked_at INTEGER
);
CREATE INDEX invitations_created ON invitations (created_at);
