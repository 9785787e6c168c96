package db

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// mailKeySize is the AES-256 key length of the key file.
const mailKeySize = 32

// Outbox is the table of mail waiting to be sent. The bodies of reset mail
// hold the reset link, which this file must never hold (only a token's
// hash is stored: a copy of the database does not let anyone reset a
// password). So the bodies are sealed with AES-256-GCM under a key kept in
// a file of its own: a copy of the database alone, such as a backup, holds
// no working link. It is safe for concurrent use.
type Outbox struct {
	db   *DB
	aead cipher.AEAD
}

// OpenOutbox returns d's outbox, sealing with the key in keyFile, which it
// creates (mode 0600, 32 random bytes) when missing. d is a SQLite file:
// with PostgreSQL too, mail waits on the node that accepted it, in that
// node's file, sealed under that node's key, which no other node has. Mail sealed under a
// key that is lost cannot be sent: NextMail deletes it and says so.
func (d *DB) OpenOutbox(keyFile string) (*Outbox, error) {
	if d.engine != engineSQLite {
		return nil, errors.New("db: the mail outbox is kept in each node's SQLite file, not in PostgreSQL")
	}
	key, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, mailKeySize)
		_, _ = rand.Read(key) // never fails since Go 1.24
		err = writeNew(keyFile, key)
		if errors.Is(err, fs.ErrExist) { // another process made it first
			key, err = os.ReadFile(keyFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mail key %s: %w", keyFile, err)
	}
	if len(key) != mailKeySize {
		return nil, fmt.Errorf("mail key %s: %d bytes, want %d", keyFile, len(key), mailKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Outbox{db: d, aead: aead}, nil
}

// writeNew creates path with b, failing if it exists, and syncs it: a key
// lost in a crash would make the queued mail unreadable.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// seal encrypts a body, bound to its recipient: a body moved to another
// row does not open.
func (o *Outbox) seal(body, to string) []byte {
	nonce := make([]byte, o.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return o.aead.Seal(nonce, nonce, []byte(body), []byte(to))
}

func (o *Outbox) open(sealed []byte, to string) (string, error) {
	n := o.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed body too short")
	}
	b, err := o.aead.Open(nil, sealed[:n], sealed[n:], []byte(to))
	return string(b), err
}

// OutboxMail is one mail waiting in the outbox. Its fields match
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
func (o *Outbox) AddMail(ctx context.Context, m OutboxMail, max int) (bool, error) {
	res, err := o.db.SQL.ExecContext(ctx, `INSERT INTO mail_outbox
		(recipient, recipient_name, subject, body_text, body_html, attempts, next_attempt_ms, created_ms, expires_ms)
		SELECT $1, $2, $3, $4, $5, 0, $6, $7, $8
		WHERE (SELECT count(*) FROM mail_outbox) < $9`,
		m.To, m.ToName, m.Subject, o.seal(m.Text, m.To), o.seal(m.HTML, m.To),
		m.NextAttempt.UnixMilli(), m.Created.UnixMilli(), millis(m.Expires), max)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// NextMail returns the mail whose next attempt is due soonest, the oldest
// first among equals; ok is false when the outbox is empty. A mail that
// cannot be unsealed (its key file was replaced) is deleted, and the error
// says so; the next call goes on with the rest.
func (o *Outbox) NextMail(ctx context.Context) (m OutboxMail, ok bool, err error) {
	var (
		next, created, expires int64
		text, html             []byte
	)
	err = o.db.SQL.QueryRowContext(ctx, `SELECT id, recipient, recipient_name, subject, body_text, body_html,
		attempts, next_attempt_ms, created_ms, expires_ms
		FROM mail_outbox ORDER BY next_attempt_ms, id LIMIT 1`).Scan(
		&m.ID, &m.To, &m.ToName, &m.Subject, &text, &html, &m.Attempts, &next, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxMail{}, false, nil
	}
	if err != nil {
		return OutboxMail{}, false, err
	}
	if m.Text, err = o.open(text, m.To); err == nil {
		m.HTML, err = o.open(html, m.To)
	}
	if err != nil {
		if derr := o.DeleteMail(ctx, m.ID); derr != nil {
			return OutboxMail{}, false, derr
		}
		return OutboxMail{}, false, fmt.Errorf("db: outbox mail to %s cannot be unsealed (was the mail key replaced?); deleted it: %w", m.To, err)
	}
	m.NextAttempt, m.Created = time.UnixMilli(next), time.UnixMilli(created)
	if expires != 0 {
		m.Expires = time.UnixMilli(expires)
	}
	return m, true, nil
}

// RetryMail records a failed attempt: the count so far and when to retry.
func (o *Outbox) RetryMail(ctx context.Context, id int64, attempts int, next time.Time) error {
	_, err := o.db.SQL.ExecContext(ctx, `UPDATE mail_outbox SET attempts = $1, next_attempt_ms = $2 WHERE id = $3`,
		attempts, next.UnixMilli(), id)
	return err
}

// DeleteMail removes a mail that was sent, given up or expired.
func (o *Outbox) DeleteMail(ctx context.Context, id int64) error {
	_, err := o.db.SQL.ExecContext(ctx, `DELETE FROM mail_outbox WHERE id = $1`, id)
	return err
}

// CountMail reports how many mails wait in the outbox.
func (o *Outbox) CountMail(ctx context.Context) (int, error) {
	var n int
	err := o.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM mail_outbox`).Scan(&n)
	return n, err
}

// millis is t in Unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
