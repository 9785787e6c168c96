-- Mail accepted for delivery (password reset links, notices) and not yet
-- sent, so that a stop or a crash does not lose it. Rows leave when the
-- mail is sent, given up or expired. Times are Unix milliseconds: retry
-- waits are shorter than a second in tests.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    recipient       TEXT    NOT NULL,
    recipient_name  TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    -- Sealed (AES-GCM, key in a file beside the database): a reset mail's
    -- body holds the link, and this file holds no working link.
    body_text       BLOB    NOT NULL,
    body_html       BLOB    NOT NULL,
    -- Failed attempts so far, and when the next may start.
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    -- When the mail stops being worth sending (its reset link expires);
    -- 0 never. An expired row is deleted, not sent.
    expires_ms      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_outbox_next ON mail_outbox (next_attempt_ms, id);
