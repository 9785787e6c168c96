package db

import (
	"context"
	"os"
	"testing"

	"natter/internal/pgtest"
)

// The tests of what the db API does run on both engines (eachEngine): a
// SQLite file in a temp dir, and a schema of its own on a real PostgreSQL
// (internal/pgtest). Tests of one engine's own ground (SQLite's file and
// pragmas, PostgreSQL's connection) open that engine alone.

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// eachEngine runs test as two subtests, sqlite and postgres, each on a
// fresh database.
func eachEngine(t *testing.T, test func(t *testing.T, d *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		d, _ := openTemp(t)
		test(t, d)
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, openPostgres(t))
	})
}

// openPostgres opens a fresh PostgreSQL schema and closes it when the test
// ends.
func openPostgres(t *testing.T) *DB {
	t.Helper()
	return openPostgresAt(t, pgtest.URL(t))
}

// openPostgresAt opens the database at url and closes it when the test
// ends; several calls with one url are several nodes.
func openPostgresAt(t *testing.T, url string) *DB {
	t.Helper()
	d, err := OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
