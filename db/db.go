// Package db owns Natter's database: opening it (a SQLite file with the
// right pragmas, or PostgreSQL when several nodes share the accounts),
// applying the embedded migrations of its engine, and the queries the
// handlers need, named for what the caller wants.
//
// One API, two engines. The queries are written once, in the SQL both
// engines read: $1-style parameters (modernc's SQLite binds $N by
// position, as PostgreSQL does), INSERT ... ON CONFLICT, RETURNING. What
// differs lives in a few places named for it: opening and the schema
// version (db.go, postgres.go), the migration files (migrations/ and
// migrations/postgres/, side by side), how errors are classified
// (errors.go), and the lock that write transactions take (beginWrite).
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

// poolSize is how many connections to the file are open at most.
const poolSize = 4

// engine is the database server behind a DB.
type engine uint8

const (
	engineSQLite engine = iota
	enginePostgres
)

// DB is the application's database handle.
type DB struct {
	// SQL is the shared handle; the session storage runs on it too, so
	// everything lives in one file.
	SQL *sql.DB
	// Now is the clock seam: tests move it to check expiry.
	Now func() time.Time

	engine engine
	// name is what messages call the database: the file's path, or the
	// PostgreSQL URL without its password.
	name string
	// pool is how many connections are open at most.
	pool int
}

// Shared reports whether the database is PostgreSQL, which every node of
// a cluster shares: the limits that guard accounts then count there (see
// CountEvent), not in each process.
func (d *DB) Shared() bool { return d.engine == enginePostgres }

// Name is what messages call the database: the SQLite file's path, or the
// PostgreSQL URL with its password hidden.
func (d *DB) Name() string { return d.name }

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
	sqlDB.SetMaxOpenConns(poolSize)
	sqlDB.SetMaxIdleConns(poolSize)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	d := &DB{SQL: sqlDB, Now: time.Now, engine: engineSQLite, name: path, pool: poolSize}
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
		if d.WriteFault(err) {
			// In WAL mode even reading needs the -shm file written.
			return unwritable(path, err)
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
	if err := d.migrate(ctx, migs, version); err != nil {
		return err
	}
	// A server that cannot save would take sign-ups and messages and lose
	// them, or answer every form with an error: refuse to start instead.
	if err := d.CheckWrite(ctx); err != nil {
		return unwritable(path, err)
	}
	return nil
}

// unwritable is the one-line refusal to start on a database that cannot
// be written.
func unwritable(path string, err error) error {
	return fmt.Errorf("database %s cannot be written: %v; check the free space and the permissions of the file, its folder and its -wal and -shm files", path, err)
}

// Ping reports whether the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return d.SQL.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// writeCheckKey names the row CheckWrite writes. The dot keeps it apart
// from session ids, which are base64url.
const writeCheckKey = "natter.write-check"

// CheckWrite reports whether the database can be written now, by
// committing a real write: a row inserted and deleted again in one
// transaction. Its pages are dirty, so the commit reaches the file (the
// write-ahead log) as any other write does, and fails the same way on a
// full disk or a read-only file; a read alone, or BEGIN and ROLLBACK,
// would succeed. Nothing is left behind.
func (d *DB) CheckWrite(ctx context.Context) error {
	err := d.checkWrite(ctx)
	if err != nil {
		d.WriteFault(err)
	}
	return err
}

func (d *DB) checkWrite(ctx context.Context) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+SessionTable+` (k, v, e) VALUES ($1, $2, 1)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v, e = excluded.e`, writeCheckKey, []byte{0}); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+SessionTable+` WHERE k = $1`, writeCheckKey); err != nil {
		return err
	}
	return tx.Commit()
}

// WriteFault reports whether err says that the database cannot be
// written: the disk is full, the file (or its file system) is read-only or
// cannot be opened, or the disk failed; on PostgreSQL, the server cannot
// be reached or cannot take writes (see pgUnavailable). Such an error is the server's, not
// the user's, and passes when space or permission returns.
//
// When it does, the idle pooled connections are also closed, so the next
// ones reopen the file: a connection that opened it while it was read-only
// stays read-only for its whole life, and would go on failing after the
// permission came back.
func (d *DB) WriteFault(err error) bool {
	if ErrorKindOf(err) != Unavailable && (d == nil || d.engine != enginePostgres || !pgConnLost(err)) {
		return false
	}
	// No idle connections for a moment closes every idle one.
	d.SQL.SetMaxIdleConns(0)
	d.SQL.SetMaxIdleConns(d.pool)
	return true
}

// Close checkpoints SQLite's write-ahead log and closes the file, or closes
// the connections to PostgreSQL.
func (d *DB) Close() error {
	if d.engine == engineSQLite {
		_, _ = d.SQL.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return d.SQL.Close()
}

// beginWrite starts a write transaction that checks rows before it writes
// them (a name is free, an invitation unused). Such transactions run one
// at a time, so that no other can write between the check and the write:
// on SQLite the write lock is taken at BEGIN (_txlock=immediate); on
// PostgreSQL, whose transactions would otherwise both pass the check,
// each takes one transaction-scoped advisory lock first. Reads, and
// writes of a single statement, do not wait for it.
func (d *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil || d.engine != enginePostgres {
		return tx, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// now returns the current time in Unix seconds from the clock seam.
func (d *DB) now() int64 { return d.Now().Unix() }
