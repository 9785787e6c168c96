package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresPoolSize is how many connections to PostgreSQL one node opens at
// most: a few nodes stay well under the server's default 100.
const postgresPoolSize = 10

// connectWait bounds how long Open waits for PostgreSQL to answer at start.
const connectWait = 15 * time.Second

// idleInTransaction is the server's idle_in_transaction_session_timeout
// for a node's connections (unless the URL sets one): a transaction that
// waits this long for its node's next statement is ended by the server,
// with its locks. Natter's transactions are a few statements in a row; a
// node cut off in the middle of one (a partition, a frozen process) would
// otherwise hold beginWrite's lock, which every node's sign-ups and
// password changes wait for, until TCP gives the connection up (hours).
const idleInTransaction = "10s"

// Advisory lock keys, one per purpose, the same in every node: the
// migration lock is held while one node brings the schema up to date; the
// write lock is each of beginWrite's transactions'.
const (
	migrateLockKey int64 = 0x6e61_7474_6572_01 // "natter" 1
	writeLockKey   int64 = 0x6e61_7474_6572_02 // "natter" 2
)

// IsPostgresURL reports whether s names a PostgreSQL database
// (postgres:// or postgresql://).
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactURL is a PostgreSQL URL fit for messages and logs: its passwords
// hidden, the user part's and those pgx also reads from the query
// (password, sslpassword), and the whole URL hidden when it does not parse
// (its password could be anywhere in it).
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a PostgreSQL URL that does not parse)"
	}
	if u.RawQuery != "" {
		// Piece by piece, so that the others stay as they were written.
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if k, err := url.QueryUnescape(k); err != nil || k == "password" || k == "sslpassword" {
				parts[i] = k + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.Redacted()
}

// OpenPostgres connects to the PostgreSQL database at dsn (postgres://…)
// and brings its schema up to date, so that several nodes share the
// accounts, sessions, reset tokens, invitations and settings. Nodes that
// start together migrate one at a time (an advisory lock); a schema newer
// than this binary is refused, as for SQLite. The database must exist; its
// tables go in the schema the connection's search_path names (public by
// default).
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	name := RedactURL(dsn)
	if !IsPostgresURL(dsn) {
		return nil, fmt.Errorf("database %s: want a postgres:// URL", name)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message hides the password.
		return nil, fmt.Errorf("database %s: %v", name, err)
	}
	if _, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = idleInTransaction
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(postgresPoolSize)
	sqlDB.SetMaxIdleConns(postgresPoolSize)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{SQL: sqlDB, Now: time.Now, engine: enginePostgres, name: name, pool: postgresPoolSize}
	if err := d.setUpPostgres(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return d, nil
}

// setUpPostgres migrates under the migration lock, then checks that the
// database takes writes.
func (d *DB) setUpPostgres(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	conn, err := d.SQL.Conn(wait)
	if err != nil {
		return fmt.Errorf("database %s: cannot connect: %w", d.name, err)
	}
	defer conn.Close()
	// A session lock, released when this function is done with the
	// connection (and by the server if the node dies holding it).
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("database %s: %w", d.name, err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT  NOT NULL)`); err != nil {
		if d.WriteFault(err) {
			return d.unwritablePostgres(err)
		}
		return fmt.Errorf("database %s: %w", d.name, err)
	}
	var version int
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("database %s: %w", d.name, err)
	}
	migs, err := postgresMigrations()
	if err != nil {
		return err
	}
	if version > len(migs) {
		return fmt.Errorf("database %s: its schema is version %d, newer than this Natter knows (%d); run a newer Natter", d.name, version, len(migs))
	}
	if err := d.migrateOn(ctx, conn, migs, version); err != nil {
		return fmt.Errorf("database %s: %w", d.name, err)
	}
	if err := d.CheckWrite(ctx); err != nil {
		return d.unwritablePostgres(err)
	}
	return nil
}

// unwritablePostgres is the one-line refusal to start on a PostgreSQL
// database that cannot be written.
func (d *DB) unwritablePostgres(err error) error {
	var pe interface{ SQLState() string }
	hint := "check that the server is up and has free space, and that this user may write the database"
	if errors.As(err, &pe) && pe.SQLState() == "25006" {
		hint = "it is a read-only standby: point NATTER_DATABASE_URL at the primary"
	}
	return fmt.Errorf("database %s cannot be written: %v; %s", d.name, err, hint)
}
