package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// hashToken is what the database stores for a reset token.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateResetToken stores the SHA-256 of token for the user, valid for ttl.
// Earlier tokens stay valid until used, expired, or a reset succeeds.
func (d *DB) CreateResetToken(ctx context.Context, userID int64, token string, ttl time.Duration) error {
	now := d.Now()
	_, err := d.SQL.ExecContext(ctx, `INSERT INTO reset_tokens (token_hash, user_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`, hashToken(token), userID, now.Unix(), now.Add(ttl).Unix())
	return err
}

// ResetTokenUser returns the account a token may reset, or ErrTokenInvalid
// when the token is unknown, used or expired.
func (d *DB) ResetTokenUser(ctx context.Context, token string) (User, error) {
	u, err := scanUser(d.SQL.QueryRowContext(ctx, `SELECT `+prefixed("u.")+` FROM reset_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2`, hashToken(token), d.now()))
	if err == ErrNotFound {
		return User{}, ErrTokenInvalid
	}
	return u, err
}

// ConsumeResetToken sets a new password with a valid token in one
// transaction: the token is marked used, the credential version bumped and
// every other token of the user deleted. It returns the user as updated.
func (d *DB) ConsumeResetToken(ctx context.Context, token, passwordHash string) (User, error) {
	tx, err := d.beginWrite(ctx)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback()
	now := d.now()
	var userID int64
	err = tx.QueryRowContext(ctx, `UPDATE reset_tokens SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 RETURNING user_id`,
		now, hashToken(token), now).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrTokenInvalid
	}
	if err != nil {
		// A busy or broken database is not the user's bad link.
		return User{}, err
	}
	if _, err := changePassword(ctx, tx, userID, passwordHash, now); err != nil {
		return User{}, err
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
	if err != nil {
		return User{}, err
	}
	return u, tx.Commit()
}

// DeleteStaleResetTokens removes used and expired tokens; the server runs it
// periodically. It returns how many went.
func (d *DB) DeleteStaleResetTokens(ctx context.Context) (int64, error) {
	res, err := d.SQL.ExecContext(ctx, `DELETE FROM reset_tokens WHERE used_at IS NOT NULL OR expires_at <= $1`, d.now())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// prefixed qualifies userColumns with a table alias.
func prefixed(alias string) string {
	cols := strings.Split(userColumns, ", ")
	for i, c := range cols {
		cols[i] = alias + c
	}
	return strings.Join(cols, ", ")
}
