package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

// The migrations of each engine, side by side: migrations/ for SQLite,
// migrations/postgres/ for PostgreSQL. A change of schema adds a file to
// each, and the tests run on both (see engines_test.go).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one numbered SQL file.
type migration struct {
	name string
	sql  string
}

// migrations returns SQLite's files in the order their names sort
// (0001_..., 0002_...); migration N takes the schema to user_version N.
func migrations() ([]migration, error) { return migrationsIn("migrations") }

// postgresMigrations returns PostgreSQL's files in order; migration N
// takes the schema to version N of schema_migrations.
func postgresMigrations() ([]migration, error) { return migrationsIn("migrations/postgres") }

func migrationsIn(dir string) ([]migration, error) {
	names, err := fs.Glob(migrationFiles, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for _, n := range names {
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{name: n, sql: string(b)})
	}
	return out, nil
}

// beginner is what starts a transaction: the pool, or the one connection
// that holds PostgreSQL's migration lock.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// migrate applies every migration after version, each in its own
// transaction together with the version bump, so a failure leaves the
// schema at the last complete step.
func (d *DB) migrate(ctx context.Context, migs []migration, version int) error {
	return d.migrateOn(ctx, d.SQL, migs, version)
}

// migrateOn is migrate with its transactions begun by b.
func (d *DB) migrateOn(ctx context.Context, b beginner, migs []migration, version int) error {
	for i := version; i < len(migs); i++ {
		tx, err := b.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migs[i].sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", migs[i].name, err)
		}
		if step := goStep(migs[i].name); step != nil {
			if err := step(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", migs[i].name, err)
			}
		}
		if err := d.setVersion(ctx, tx, i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", migs[i].name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", migs[i].name, err)
		}
	}
	return nil
}

// setVersion records in tx that the schema is at version n.
func (d *DB) setVersion(ctx context.Context, tx *sql.Tx, n int) error {
	if d.engine == enginePostgres {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, n, d.now())
		return err
	}
	// PRAGMA takes no bound parameters; n is our own integer.
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n))
	return err
}

// goStep is the part of a migration that SQL cannot do (values computed in
// Go), run in the same transaction right after the file's SQL.
func goStep(name string) func(context.Context, *sql.Tx) error {
	switch name {
	case "migrations/0002_username_skeletons.sql":
		return backfillSkeletons
	}
	return nil
}
