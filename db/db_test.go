package db

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openTemp opens a fresh database file in a temp dir and closes it when the
// test ends.
func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natter.db")
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func userVersion(t *testing.T, d *DB) int {
	t.Helper()
	var v int
	if err := d.SQL.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenCreatesSchema(t *testing.T) {
	d, _ := openTemp(t)
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := userVersion(t, d); got != len(migs) {
		t.Errorf("user_version = %d, want %d", got, len(migs))
	}
	for _, table := range []string{"users", "reset_tokens", "sessions", "user_sessions"} {
		var n int
		if err := d.SQL.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	var mode string
	if err := d.SQL.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk int
	if err := d.SQL.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 1 {
		t.Errorf("foreign_keys = %d, want 1", fk)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "natter.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, "alice", "alice@example.com", "hash"); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("re-open: %v", err)
	}
	defer d.Close()
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := userVersion(t, d); got != len(migs) {
		t.Errorf("user_version = %d, want %d", got, len(migs))
	}
	if _, err := d.UserByLogin(ctx, "alice"); err != nil {
		t.Errorf("user lost on re-open: %v", err)
	}
}

// TestOpenRefuses checks that a file Open must not touch is refused with a
// clear message and left byte for byte as it was.
func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{
			name: "not SQLite",
			prepare: func(t *testing.T, path string) {
				text := strings.Repeat("These are my notes, not a database. ", 200)
				if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: "not a SQLite database",
		},
		{
			name: "newer schema",
			prepare: func(t *testing.T, path string) {
				d, err := Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.SQL.Exec("PRAGMA user_version = 99"); err != nil {
					t.Fatal(err)
				}
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
			},
			want: "its schema is version 99, newer than this Natter knows (4)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "natter.db")
			tt.prepare(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Open(ctx, path)
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error = %q, want it to name %s and say %q", err, path, tt.want)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the file changed (%d bytes before, %d after)", len(before), len(after))
			}
		})
	}
}

func TestOpenMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	path := filepath.Join(dir, "natter.db")
	d, err := Open(context.Background(), path)
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded")
	}
	want := "database " + path + ": folder " + dir + " does not exist"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("folder was created: %v", err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(context.Background(), ""); err == nil || err.Error() != "database path is empty" {
		t.Errorf("error = %v, want database path is empty", err)
	}
}

func TestPing(t *testing.T) {
	d, _ := openTemp(t)
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// clockAt moves the database's clock seam to a fixed time.
func clockAt(d *DB, at time.Time) { d.Now = func() time.Time { return at } }

// TestPragmasOnEveryConnection holds every pooled connection at once and
// checks that each runs with the pragmas Natter relies on, not only the
// connection that happened to open the file.
func TestPragmasOnEveryConnection(t *testing.T) {
	d, _ := openTemp(t)
	ctx := context.Background()
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "1", // NORMAL
		"busy_timeout": "5000",
		"foreign_keys": "1",
	}
	const pool = 4 // SetMaxOpenConns in Open
	for i := 0; i < pool; i++ {
		conn, err := d.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Held until the test ends, so the next Conn is a different one.
		t.Cleanup(func() { conn.Close() })
		for pragma, w := range want {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i+1, pragma, got, w)
			}
		}
	}
}
