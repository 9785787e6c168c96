package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// UsernameHold is how long a name given up by a rename stays reserved for
// the account that gave it up, so that nobody else can take it at once and
// be taken for them.
const UsernameHold = 30 * 24 * time.Hour

// User is an account.
type User struct {
	ID                int64
	Username          string
	Email             string
	PasswordHash      string
	CredentialVersion int64
	CreatedAt         time.Time
	// IsAdmin grants /admin. The first account made is the admin.
	IsAdmin bool
	// DisabledAt is when an admin disabled the account (zero while it may
	// sign in); a disabled account's sessions count as ended.
	DisabledAt time.Time
	// LastSeen is its last sign-in or request, to within a few minutes
	// (see LastSeenEvery); zero if never seen since it was recorded.
	LastSeen time.Time
}

// Disabled reports whether an admin has disabled the account.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// FoldKey is the form in which user names and e-mail addresses are compared:
// Unicode NFC, then lower case. "Alice" and "ALICE" are one account.
func FoldKey(s string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
}

// SkeletonKey is the form in which user names are compared by looks: the
// Unicode TS #39 confusable skeleton combined with lower case, repeated
// until it no longer changes (the skeleton maps "I" to "l" and "0" to "O",
// lower case then meets "m", which maps to "rn"). "hoIder2", "h0lder2" and
// "holder2" have one key. Names that differ only in case share FoldKey,
// which is unique too.
func SkeletonKey(name string) string {
	k := norm.NFC.String(strings.TrimSpace(name))
	for range 4 {
		next := strings.ToLower(confusables.Skeleton(k))
		if next == k {
			break
		}
		k = next
	}
	return k
}

const userColumns = `id, username, email, password_hash, credential_version, created_at, is_admin, disabled_at, last_seen_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	var disabled, seen sql.NullInt64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.CredentialVersion, &created, &u.IsAdmin, &disabled, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt = time.Unix(created, 0)
	if disabled.Valid {
		u.DisabledAt = time.Unix(disabled.Int64, 0)
	}
	if seen.Valid {
		u.LastSeen = time.Unix(seen.Int64, 0)
	}
	return u, err
}

// CreateUser stores a new account. A user name or address that another
// account already has (in any letter case) gives ErrUsernameTaken or
// ErrEmailTaken; a name that looks like another's gives
// ErrUsernameLookalike, and one held after a rename ErrUsernameHeld.
// The first account of an empty database is the admin.
func (d *DB) CreateUser(ctx context.Context, username, email, passwordHash string) (User, error) {
	tx, err := d.beginWrite(ctx)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback()
	id, err := createUser(ctx, tx, username, email, passwordHash, d.now())
	if err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, err
	}
	return d.UserByID(ctx, id)
}

// createUser inserts an account in tx and returns its id. Whether it is
// the admin (no account existed) is decided by the INSERT itself, so two
// first sign-ups at once cannot both become admin: tx is one of
// beginWrite's, which run one at a time, and the second one's statement
// already sees the first account.
func createUser(ctx context.Context, tx *sql.Tx, username, email, passwordHash string, now int64) (int64, error) {
	if err := checkNameFree(ctx, tx, 0, username, false, now); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO users
		(username, username_key, username_skeleton, email, email_key, password_hash, created_at, updated_at, last_seen_at, is_admin)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NOT EXISTS (SELECT 1 FROM users)) RETURNING id`,
		username, FoldKey(username), SkeletonKey(username), email, FoldKey(email), passwordHash, now, now, now).Scan(&id)
	if err != nil {
		return 0, uniqueErr(err)
	}
	return id, nil
}

// checkNameFree says why username cannot be given to account id (0 for a
// new account): another account has it in some letter case, another has a
// name that looks the same, or it is held for someone else after a rename.
// The UNIQUE columns stay the last word; this picks the clearest error.
// sameLook skips the look-alike check when a rename keeps the skeleton: an
// account that the 0002 backfill left without one keeps its name.
func checkNameFree(ctx context.Context, tx *sql.Tx, id int64, username string, sameLook bool, now int64) error {
	key, skel := FoldKey(username), SkeletonKey(username)
	var owner int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE username_key = $1 AND id != $2`, key, id).Scan(&owner)
	if err == nil {
		return ErrUsernameTaken
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if !sameLook {
		err = tx.QueryRowContext(ctx, `SELECT id FROM users WHERE username_skeleton = $1 AND id != $2`, skel, id).Scan(&owner)
		if err == nil {
			return ErrUsernameLookalike
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	err = tx.QueryRowContext(ctx, `SELECT user_id FROM held_usernames
		WHERE name_key IN ($1, $2) AND until > $3 AND user_id != $4 LIMIT 1`, key, skel, now, id).Scan(&owner)
	if err == nil {
		return ErrUsernameHeld
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

// uniqueErr turns a UNIQUE constraint failure into the sentinel for the
// column; this is the one place that reads SQLite's error text, and
// PostgreSQL's constraint names (see migrations/postgres/0001_accounts.sql).
func uniqueErr(err error) error {
	if err == nil {
		return nil
	}
	if c, ok := pgUniqueViolation(err); ok {
		switch c {
		case "users_username_key_unique":
			return ErrUsernameTaken
		case "users_email_key_unique":
			return ErrEmailTaken
		case "users_username_skeleton_unique":
			return ErrUsernameLookalike
		}
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE") && strings.Contains(msg, "users.username_key"):
		return ErrUsernameTaken
	case strings.Contains(msg, "UNIQUE") && strings.Contains(msg, "users.email_key"):
		return ErrEmailTaken
	case strings.Contains(msg, "UNIQUE") && strings.Contains(msg, "users.username_skeleton"):
		return ErrUsernameLookalike
	}
	return err
}

// UserByID returns the account with that id, or ErrNotFound.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(d.SQL.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserByLogin returns the account whose user name or e-mail address is login
// (any letter case), or ErrNotFound.
func (d *DB) UserByLogin(ctx context.Context, login string) (User, error) {
	k := FoldKey(login)
	return scanUser(d.SQL.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_key = $1 OR email_key = $2 LIMIT 1`, k, k))
}

// UserByEmail returns the account using that address (any letter case), or
// ErrNotFound. Mail goes to the address stored in the returned User, never
// to the one typed.
func (d *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(d.SQL.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE email_key = $1`, FoldKey(email)))
}

// UpdateProfile changes a user's name and address, with the same uniqueness
// errors as CreateUser. A new address voids the reset links sent to the old
// one: whoever reads that inbox no longer controls the account. A name given
// up is held for this account for UsernameHold; taking it back ends the
// hold.
func (d *DB) UpdateProfile(ctx context.Context, id int64, username, email string) error {
	tx, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var oldName, oldEmailKey string
	err = tx.QueryRowContext(ctx, `SELECT username, email_key FROM users WHERE id = $1`, id).Scan(&oldName, &oldEmailKey)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	now := d.now()
	oldKey, oldSkel := FoldKey(oldName), SkeletonKey(oldName)
	newKey, newSkel := FoldKey(username), SkeletonKey(username)
	if err := checkNameFree(ctx, tx, id, username, newSkel == oldSkel, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4, updated_at = $5
		WHERE id = $6`, username, FoldKey(username), email, FoldKey(email), now, id); err != nil {
		return uniqueErr(err)
	}
	// The skeleton column is written only when the skeleton changes: an
	// account left without one by the 0002 backfill (its name already
	// looked like an older account's) keeps its name through other edits.
	if newSkel != oldSkel {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_skeleton = $1 WHERE id = $2`, newSkel, id); err != nil {
			return uniqueErr(err)
		}
	}
	if newKey != oldKey || newSkel != oldSkel {
		until := now + int64(UsernameHold/time.Second)
		for _, k := range []string{oldKey, oldSkel} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO held_usernames (name_key, user_id, until) VALUES ($1, $2, $3)
				ON CONFLICT (name_key) DO UPDATE SET user_id = excluded.user_id, until = excluded.until`, k, id, until); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_usernames WHERE user_id = $1 AND name_key IN ($2, $3)`,
			id, newKey, newSkel); err != nil {
			return err
		}
	}
	if oldEmailKey != FoldKey(email) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reset_tokens WHERE user_id = $1`, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// backfillSkeletons is the Go step of migration 0002: it gives every
// existing account its skeleton, oldest first. An account whose name
// already looks like an older one's keeps its name and is left without a
// skeleton (NULL), so the migration never loses or renames an account.
func backfillSkeletons(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, username FROM users ORDER BY id`)
	if err != nil {
		return err
	}
	type row struct {
		id   int64
		name string
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.name); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(all))
	for _, r := range all {
		k := SkeletonKey(r.name)
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_skeleton = $1 WHERE id = $2`, k, r.id); err != nil {
			return err
		}
	}
	return nil
}

// ChangePassword stores a new password hash, bumps the credential version
// (so sessions made before stop working) and drops the user's outstanding
// reset tokens. It returns the new credential version.
func (d *DB) ChangePassword(ctx context.Context, id int64, passwordHash string) (int64, error) {
	tx, err := d.beginWrite(ctx)
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
	err := tx.QueryRowContext(ctx, `UPDATE users SET password_hash = $1, credential_version = credential_version + 1, updated_at = $2
		WHERE id = $3 RETURNING credential_version`, passwordHash, now, id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM reset_tokens WHERE user_id = $1`, id)
	return version, err
}

// RehashPassword replaces the stored hash of an unchanged password (new
// hashing parameters) without ending any session.
func (d *DB) RehashPassword(ctx context.Context, id int64, passwordHash string) error {
	_, err := d.SQL.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, passwordHash, id)
	return err
}
