package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// User is an account.
type User struct {
	ID                int64
	Username          string
	Email             string
	PasswordHash      string
	CredentialVersion int64
	CreatedAt         time.Time
}

// FoldKey is the form in which user names and e-mail addresses are compared:
// Unicode NFC, then lower case. "Alice" and "ALICE" are one account.
func FoldKey(s string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
}

const userColumns = `id, username, email, password_hash, credential_version, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.CredentialVersion, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt = time.Unix(created, 0)
	return u, err
}

// CreateUser stores a new account. A user name or address that another
// account already has (in any letter case) gives ErrUsernameTaken or
// ErrEmailTaken.
func (d *DB) CreateUser(ctx context.Context, username, email, passwordHash string) (User, error) {
	now := d.now()
	res, err := d.SQL.ExecContext(ctx, `INSERT INTO users
		(username, username_key, email, email_key, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		username, FoldKey(username), email, FoldKey(email), passwordHash, now, now)
	if err != nil {
		return User{}, uniqueErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return User{}, err
	}
	return d.UserByID(ctx, id)
}

// uniqueErr turns a UNIQUE constraint failure into the sentinel for the
// column; this is the one place that reads SQLite's error text.
func uniqueErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE") && strings.Contains(msg, "users.username_key"):
		return ErrUsernameTaken
	case strings.Contains(msg, "UNIQUE") && strings.Contains(msg, "users.email_key"):
		return ErrEmailTaken
	}
	return err
}

// UserByID returns the account with that id, or ErrNotFound.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(d.SQL.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// UserByLogin returns the account whose user name or e-mail address is login
// (any letter case), or ErrNotFound.
func (d *DB) UserByLogin(ctx context.Context, login string) (User, error) {
	k := FoldKey(login)
	return scanUser(d.SQL.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_key = ? OR email_key = ? LIMIT 1`, k, k))
}

// UserByEmail returns the account using that address (any letter case), or
// ErrNotFound. Mail goes to the address stored in the returned User, never
// to the one typed.
func (d *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(d.SQL.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE email_key = ?`, FoldKey(email)))
}

// UpdateProfile changes a user's name and address, with the same uniqueness
// errors as CreateUser. A new address voids the reset links sent to the old
// one: whoever reads that inbox no longer controls the account.
func (d *DB) UpdateProfile(ctx context.Context, id int64, username, email string) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var oldKey string
	err = tx.QueryRowContext(ctx, `SELECT email_key FROM users WHERE id = ?`, id).Scan(&oldKey)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, username_key = ?, email = ?, email_key = ?, updated_at = ?
		WHERE id = ?`, username, FoldKey(username), email, FoldKey(email), d.now(), id); err != nil {
		return uniqueErr(err)
	}
	if oldKey != FoldKey(email) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reset_tokens WHERE user_id = ?`, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ChangePassword stores a new password hash, bumps the credential version
// (so sessions made before stop working) and drops the user's outstanding
// reset tokens. It returns the new credential version.
func (d *DB) ChangePassword(ctx context.Context, id int64, passwordHash string) (int64, error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	version, err := changePassword(ctx, tx, id, passwordHash, d.now())
	if err != nil {
		return 0, err
	}
	return version, tx.Commit()
}

func changePassword(ctx context.Context, tx *sql.Tx, id int64, passwordHash string, now int64) (int64, error) {
	var version int64
	err := tx.QueryRowContext(ctx, `UPDATE users SET password_hash = ?, credential_version = credential_version + 1, updated_at = ?
		WHERE id = ? RETURNING credential_version`, passwordHash, now, id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM reset_tokens WHERE user_id = ?`, id)
	return version, err
}

// RehashPassword replaces the stored hash of an unchanged password (new
// hashing parameters) without ending any session.
func (d *DB) RehashPassword(ctx context.Context, id int64, passwordHash string) error {
	_, err := d.SQL.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, id)
	return err
}
