// Package db owns Natter's SQLite database: opening it with the right
// pragmas, applying the embedded migrations, and the queries the handlers
// need, named for what the caller wants.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Sentinel errors that callers turn into messages for users.
var (
	ErrNotFound      = errors.New("db: not found")
	ErrUsernameTaken = errors.New("db: user name taken")
	ErrEmailTaken    = errors.New("db: email taken")
	ErrTokenInvalid  = errors.New("db: reset token unknown, used or expired")
)

// DB is the application's database handle.
type DB struct {
	// SQL is the shared handle; the session storage runs on it too, so
	// everything lives in one file.
	SQL *sql.DB
	// Now is the clock seam: tests move it to check expiry.
	Now func() time.Time
}

// Open opens (creating if needed) the SQLite file at path and brings its
// schema up to date. A file that is not a SQLite database, or whose schema is
// newer than this binary, is refused before anything is written to it.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("database path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("database %s: folder %s does not exist", path, dir)
		}
	}
	// Every connection-level pragma goes in the DSN: the driver runs them on
	// each connection it opens, so all pooled connections agree. A PRAGMA
	// run with Exec reaches only the one connection that ran it.
	q := url.Values{}
	// Wait up to 5 s for another writer instead of failing at once with
	// SQLITE_BUSY. First, so the pragmas after it wait too.
	q.Add("_pragma", "busy_timeout(5000)")
	// SQLite leaves foreign keys off by default; ON DELETE CASCADE needs them.
	q.Add("_pragma", "foreign_keys(1)")
	// In WAL mode NORMAL is durable across application crashes and much
	// faster than the default FULL.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Write transactions take the write lock at BEGIN, so two of them never
	// deadlock upgrading from a read lock.
	q.Add("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// A few connections let readers run beside the one writer that WAL allows.
	sqlDB.SetMaxOpenConns(4)
	sqlDB.SetMaxIdleConns(4)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	d := &DB{SQL: sqlDB, Now: time.Now}
	if err := d.setUp(ctx, path); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return d, nil
}

// setUp checks the file before writing anything, then switches the journal
// mode and applies pending migrations.
func (d *DB) setUp(ctx context.Context, path string) error {
	var version int
	if err := d.SQL.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("database %s: the file is not a SQLite database", path)
		}
		return fmt.Errorf("database %s: %w", path, err)
	}
	migs, err := migrations()
	if err != nil {
		return err
	}
	if version > len(migs) {
		return fmt.Errorf("database %s: its schema is version %d, newer than this Natter knows (%d); run a newer Natter", path, version, len(migs))
	}
	// WAL lets readers proceed while one writer commits. Unlike the pragmas
	// in the DSN, the journal mode is stored in the file, so setting it once
	// holds for every connection; it stays here, after the checks above,
	// because switching it writes to the file, and a file that is refused
	// must be left as it was.
	if _, err := d.SQL.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	return d.migrate(ctx, migs, version)
}

// Ping reports whether the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return d.SQL.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close checkpoints the write-ahead log and closes the file.
func (d *DB) Close() error {
	_, _ = d.SQL.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return d.SQL.Close()
}

// now returns the current time in Unix seconds from the clock seam.
func (d *DB) now() int64 { return d.Now().Unix() }
