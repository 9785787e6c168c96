package db

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// LastSeenEvery is how stale a user's last-seen time may grow before a
// request writes it again: one small write per user every few minutes,
// not one per request.
const LastSeenEvery = 5 * time.Minute

// Users lists every account, oldest first, for the admin page.
func (d *DB) Users(ctx context.Context) ([]User, error) {
	return d.queryUsers(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
}

// CountUsers returns how many accounts exist.
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// SetAdmin grants (or takes back) the admin's rights; ErrNotFound for an
// unknown id.
func (d *DB) SetAdmin(ctx context.Context, id int64, admin bool) error {
	return d.updateOne(ctx, `UPDATE users SET is_admin = $1 WHERE id = $2`, admin, id)
}

// SetDisabled disables an account (its sessions count as ended and its
// sign-in is refused) or enables it again; ErrNotFound for an unknown id.
// Disabling an account already disabled keeps the first time.
func (d *DB) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	if disabled {
		return d.updateOne(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, $1) WHERE id = $2`, d.now(), id)
	}
	return d.updateOne(ctx, `UPDATE users SET disabled_at = NULL WHERE id = $1`, id)
}

// SeenNow records that the user was seen now (a sign-in or a request).
func (d *DB) SeenNow(ctx context.Context, id int64) error {
	_, err := d.SQL.ExecContext(ctx, `UPDATE users SET last_seen_at = $1 WHERE id = $2`, d.now(), id)
	return err
}

// updateOne runs an UPDATE of one user row, ErrNotFound when none matched.
func (d *DB) updateOne(ctx context.Context, query string, args ...any) error {
	res, err := d.SQL.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SignUpMode says who may create an account.
type SignUpMode string

// The sign-up modes.
const (
	// SignUpOpen: anyone who reaches the server (the default).
	SignUpOpen SignUpMode = "open"
	// SignUpInvite: only with an invitation link.
	SignUpInvite SignUpMode = "invite"
	// SignUpClosed: nobody on the web without an invitation link; the
	// admin can still invite, and `natter user create` still works.
	SignUpClosed SignUpMode = "closed"
)

// Valid reports whether m is one of the modes.
func (m SignUpMode) Valid() bool {
	return m == SignUpOpen || m == SignUpInvite || m == SignUpClosed
}

const settingSignUpMode = "signup_mode"

// SignUpMode returns the sign-up mode, SignUpOpen unless set otherwise.
func (d *DB) SignUpMode(ctx context.Context) (SignUpMode, error) {
	var v string
	err := d.SQL.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, settingSignUpMode).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return SignUpOpen, nil
	}
	if err != nil {
		return "", err
	}
	if m := SignUpMode(v); m.Valid() {
		return m, nil
	}
	// A value this release does not know (set by a newer one) admits
	// nobody rather than everybody.
	return SignUpClosed, nil
}

// SetSignUpMode stores the sign-up mode.
func (d *DB) SetSignUpMode(ctx context.Context, m SignUpMode) error {
	if !m.Valid() {
		return errors.New("db: unknown sign-up mode " + string(m))
	}
	_, err := d.SQL.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, settingSignUpMode, string(m))
	return err
}

// Invitation is a sign-up link made by an admin. Its token is not kept:
// only its hash is stored.
type Invitation struct {
	ID        int64
	CreatedBy string // the admin's user name; "" if that account is gone
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	UsedBy    string    // who signed up with it; "" while unused
	RevokedAt time.Time // zero unless revoked
}

// Open reports whether the invitation can still be used at now.
func (i Invitation) Open(now time.Time) bool {
	return i.UsedAt.IsZero() && i.RevokedAt.IsZero() && now.Before(i.ExpiresAt)
}

// CreateInvitation stores the hash of token as an invitation made by the
// admin byID, valid for ttl from now (the clock seam).
func (d *DB) CreateInvitation(ctx context.Context, byID int64, token string, ttl time.Duration) (Invitation, error) {
	now := d.Now()
	var id int64
	err := d.SQL.QueryRowContext(ctx, `INSERT INTO invitations (token_hash, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, hashToken(token), byID, now.Unix(), now.Add(ttl).Unix()).Scan(&id)
	if err != nil {
		return Invitation{}, err
	}
	return Invitation{ID: id, CreatedAt: time.Unix(now.Unix(), 0), ExpiresAt: time.Unix(now.Add(ttl).Unix(), 0)}, nil
}

// Invitations lists the invitations, newest first.
func (d *DB) Invitations(ctx context.Context) ([]Invitation, error) {
	rows, err := d.SQL.QueryContext(ctx, `SELECT i.id, coalesce(c.username, ''), i.created_at, i.expires_at,
		i.used_at, coalesce(u.username, ''), i.revoked_at
		FROM invitations i LEFT JOIN users c ON c.id = i.created_by LEFT JOIN users u ON u.id = i.used_by
		ORDER BY i.id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		var i Invitation
		var created, expires int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&i.ID, &i.CreatedBy, &created, &expires, &used, &i.UsedBy, &revoked); err != nil {
			return nil, err
		}
		i.CreatedAt, i.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
		if used.Valid {
			i.UsedAt = time.Unix(used.Int64, 0)
		}
		if revoked.Valid {
			i.RevokedAt = time.Unix(revoked.Int64, 0)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// RevokeInvitation ends an open invitation: ErrNotFound for an unknown id,
// ErrInviteUsed or ErrInviteRevoked for one that is no longer open (an
// expired one may still be revoked, which changes nothing but its mark).
func (d *DB) RevokeInvitation(ctx context.Context, id int64) error {
	tx, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var used, revoked sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT used_at, revoked_at FROM invitations WHERE id = $1`, id).Scan(&used, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case used.Valid:
		return ErrInviteUsed
	case revoked.Valid:
		return ErrInviteRevoked
	}
	if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE id = $2`, d.now(), id); err != nil {
		return err
	}
	return tx.Commit()
}

// CheckInvitation says whether token is an invitation that works now: nil,
// or ErrInviteUnknown, ErrInviteUsed, ErrInviteRevoked or ErrInviteExpired.
func (d *DB) CheckInvitation(ctx context.Context, token string) error {
	return checkInvitation(d.SQL.QueryRowContext(ctx,
		`SELECT expires_at, used_at, revoked_at FROM invitations WHERE token_hash = $1`, hashToken(token)), d.now())
}

func checkInvitation(row *sql.Row, now int64) error {
	var expires int64
	var used, revoked sql.NullInt64
	err := row.Scan(&expires, &used, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrInviteUnknown
	case err != nil:
		return err
	case used.Valid:
		return ErrInviteUsed
	case revoked.Valid:
		return ErrInviteRevoked
	case expires <= now:
		return ErrInviteExpired
	}
	return nil
}

// CreateInvitedUser creates an account with an invitation, in one
// transaction: the invitation is checked, the account made and the
// invitation marked used by it, or nothing changes. The errors are
// CheckInvitation's and CreateUser's.
func (d *DB) CreateInvitedUser(ctx context.Context, token, username, email, passwordHash string) (User, error) {
	tx, err := d.beginWrite(ctx)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback()
	now := d.now()
	if err := checkInvitation(tx.QueryRowContext(ctx,
		`SELECT expires_at, used_at, revoked_at FROM invitations WHERE token_hash = $1`, hashToken(token)), now); err != nil {
		return User{}, err
	}
	id, err := createUser(ctx, tx, username, email, passwordHash, now)
	if err != nil {
		return User{}, err
	}
	// The check above and this update run in one write transaction (the
	// lock is taken at BEGIN), so no other sign-up can use it in between.
	if _, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = $1, used_by = $2 WHERE token_hash = $3`,
		now, id, hashToken(token)); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, err
	}
	return d.UserByID(ctx, id)
}
