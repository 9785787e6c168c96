package db

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// OutboxMail is one mail waiting in the outbox table. Its fields match
// mail.Stored one for one, so the app converts between them directly (this
// package imports none of ours). A zero Expires never expires.
type OutboxMail struct {
	ID                              int64
	To, ToName, Subject, Text, HTML string
	Attempts                        int
	NextAttempt, Created, Expires   time.Time
}

// AddMail stores m (its ID is ignored) unless the outbox already holds max
// mails, and reports whether it did. The count and the insert are one
// statement, so two callers cannot both take the last place.
func (d *DB) AddMail(ctx context.Context, m OutboxMail, max int) (bool, error) {
	res, err := d.SQL.ExecContext(ctx, `INSERT INTO mail_outbox
		(recipient, recipient_name, subject, body_text, body_html, attempts, next_attempt_ms, created_ms, expires_ms)
		SELECT ?, ?, ?, ?, ?, 0, ?, ?, ?
		WHERE (SELECT count(*) FROM mail_outbox) < ?`,
		m.To, m.ToName, m.Subject, m.Text, m.HTML,
		m.NextAttempt.UnixMilli(), m.Created.UnixMilli(), millis(m.Expires), max)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// NextMail returns the mail whose next attempt is due soonest, the oldest
// first among equals; ok is false when the outbox is empty.
func (d *DB) NextMail(ctx context.Context) (m OutboxMail, ok bool, err error) {
	var next, created, expires int64
	err = d.SQL.QueryRowContext(ctx, `SELECT id, recipient, recipient_name, subject, body_text, body_html,
		attempts, next_attempt_ms, created_ms, expires_ms
		FROM mail_outbox ORDER BY next_attempt_ms, id LIMIT 1`).Scan(
		&m.ID, &m.To, &m.ToName, &m.Subject, &m.Text, &m.HTML, &m.Attempts, &next, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxMail{}, false, nil
	}
	if err != nil {
		return OutboxMail{}, false, err
	}
	m.NextAttempt, m.Created = time.UnixMilli(next), time.UnixMilli(created)
	if expires != 0 {
		m.Expires = time.UnixMilli(expires)
	}
	return m, true, nil
}

// RetryMail records a failed attempt: the count so far and when to retry.
func (d *DB) RetryMail(ctx context.Context, id int64, attempts int, next time.Time) error {
	_, err := d.SQL.ExecContext(ctx, `UPDATE mail_outbox SET attempts = ?, next_attempt_ms = ? WHERE id = ?`,
		attempts, next.UnixMilli(), id)
	return err
}

// DeleteMail removes a mail that was sent, given up or expired.
func (d *DB) DeleteMail(ctx context.Context, id int64) error {
	_, err := d.SQL.ExecContext(ctx, `DELETE FROM mail_outbox WHERE id = ?`, id)
	return err
}

// CountMail reports how many mails wait in the outbox.
func (d *DB) CountMail(ctx context.Context) (int, error) {
	var n int
	err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM mail_outbox`).Scan(&n)
	return n, err
}

// millis is t in Unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
