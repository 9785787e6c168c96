package db

import "context"

// SessionTable is the table SessionStore keeps sessions in, in the layout
// github.com/gofiber/storage/sqlite3 used before it (see 0001_init.sql).
const SessionTable = "sessions"

// TrackSession records that a signed-in session belongs to a user, so that
// EndSessions can find it.
func (d *DB) TrackSession(ctx context.Context, sessionID string, userID int64) error {
	_, err := d.SQL.ExecContext(ctx, `INSERT INTO user_sessions (session_id, user_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, created_at = excluded.created_at`,
		sessionID, userID, d.now())
	return err
}

// ForgetSession drops a session from the user's list (at sign-out).
func (d *DB) ForgetSession(ctx context.Context, sessionID string) error {
	_, err := d.SQL.ExecContext(ctx, `DELETE FROM user_sessions WHERE session_id = $1`, sessionID)
	return err
}

// EndSessions deletes every stored session of the user except keep (which
// may be empty), so those cookies become anonymous at once.
func (d *DB) EndSessions(ctx context.Context, userID int64, keep string) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+SessionTable+` WHERE k IN
		(SELECT session_id FROM user_sessions WHERE user_id = $1 AND session_id != $2)`, userID, keep); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_sessions WHERE user_id = $1 AND session_id != $2`, userID, keep); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteOrphanSessionLinks drops user_sessions rows whose session row the
// storage's collector has already expired.
func (d *DB) DeleteOrphanSessionLinks(ctx context.Context) error {
	_, err := d.SQL.ExecContext(ctx, `DELETE FROM user_sessions WHERE session_id NOT IN (SELECT k FROM `+SessionTable+`)`)
	return err
}

// TrimVisitorSessions keeps the keep most recently saved sessions that
// belong to no user (visitors' sessions, which hold a CSRF token) and
// deletes the others. It returns how many it deleted.
func (d *DB) TrimVisitorSessions(ctx context.Context, keep int) (int64, error) {
	// Numbered by row_number rather than skipped with OFFSET: SQLite needs
	// a LIMIT before an OFFSET (LIMIT -1), which PostgreSQL refuses.
	res, err := d.SQL.ExecContext(ctx, `DELETE FROM `+SessionTable+` WHERE k IN
		(SELECT k FROM (SELECT k, row_number() OVER (ORDER BY e DESC) AS n FROM `+SessionTable+`
		 WHERE k NOT IN (SELECT session_id FROM user_sessions)) AS visitors WHERE n > $1)`, keep)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
