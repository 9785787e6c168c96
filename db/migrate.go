package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered SQL file.
type migration struct {
	name string
	sql  string
}

// migrations returns the embedded files in the order their names sort
// (0001_..., 0002_...); migration N takes the schema to user_version N.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
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

// migrate applies every migration after version, each in its own
// transaction together with the user_version bump, so a failure leaves the
// schema at the last complete step.
func (d *DB) migrate(ctx context.Context, migs []migration, version int) error {
	for i := version; i < len(migs); i++ {
		tx, err := d.SQL.BeginTx(ctx, nil)
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
		// PRAGMA takes no bound parameters; i+1 is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", migs[i].name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", migs[i].name, err)
		}
	}
	return nil
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
