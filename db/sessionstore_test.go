package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The fixture testdata/sessions-gofiber-sqlite3-v2.3.0.db was written by
// github.com/gofiber/storage/sqlite3 v2.3.0 (the store Natter used before)
// on a database made by Open at schema version 1:
//
//	Set("forever-0123456789abcdef", "session that never expires", 0)
//	Set("future-0123456789abcdef", "session for a century", 100*365*24h)
//	Set("expired-0123456789abcdef", "session that expired", 1s), then 2.1 s waited
const oldStoreFixture = "testdata/sessions-gofiber-sqlite3-v2.3.0.db"

// openFixture copies the fixture into a temp dir and opens it (migrating it).
func openFixture(t *testing.T) *DB {
	t.Helper()
	b, err := os.ReadFile(oldStoreFixture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "natter.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newStore(t *testing.T, d *DB) *SessionStore {
	t.Helper()
	s := d.NewSessionStore(time.Hour)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSessionStoreKeepsSessionsOfTheOldStore(t *testing.T) {
	d := openFixture(t)
	s := newStore(t, d)
	for key, want := range map[string]string{
		"forever-0123456789abcdef": "session that never expires",
		"future-0123456789abcdef":  "session for a century",
		"expired-0123456789abcdef": "",
	} {
		got, err := s.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	// The old rows and new ones live side by side in the one table.
	if err := s.Set("new-0123456789abcdef", []byte("new session"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("new-0123456789abcdef"); string(got) != "new session" {
		t.Errorf("Get(new) = %q, want %q", got, "new session")
	}
	n, err := d.DeleteExpiredSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteExpiredSessions removed %d rows, want 1", n)
	}
	want := []string{"forever-0123456789abcdef", "future-0123456789abcdef", "new-0123456789abcdef"}
	if got := sessionKeys(t, d); !slices.Equal(got, want) {
		t.Errorf("rows after collection = %q, want %q", got, want)
	}
}

func TestSessionStoreExpiry(t *testing.T) { eachEngine(t, testSessionStoreExpiry) }

func testSessionStoreExpiry(t *testing.T, d *DB) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	clockAt(d, start)
	s := newStore(t, d)
	if err := s.Set("hour", []byte("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("never", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	// The expiry is rounded up to a whole second: 12:00:00.5 + 1 h is
	// stored as 13:00:01, never earlier than asked.
	var e int64
	if err := d.SQL.QueryRow(`SELECT e FROM sessions WHERE k = 'hour'`).Scan(&e); err != nil {
		t.Fatal(err)
	}
	if want := start.Add(time.Hour).Truncate(time.Second).Unix() + 1; e != want {
		t.Errorf("stored expiry %d, want %d", e, want)
	}

	clockAt(d, start.Add(time.Hour))
	if got, _ := s.Get("hour"); string(got) != "a" {
		t.Errorf("Get(hour) at 1 h = %q, want %q", got, "a")
	}
	clockAt(d, start.Add(time.Hour+time.Second))
	if got, _ := s.Get("hour"); got != nil {
		t.Errorf("Get(hour) after expiry = %q, want nil", got)
	}
	if n, err := d.DeleteExpiredSessions(context.Background()); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1, nil", n, err)
	}
	if got := sessionKeys(t, d); !slices.Equal(got, []string{"never"}) {
		t.Errorf("rows = %q, want [never]", got)
	}
}

func TestSessionStoreCollectsInTheBackground(t *testing.T) {
	eachEngine(t, testSessionStoreCollectsInTheBackground)
}

func testSessionStoreCollectsInTheBackground(t *testing.T, d *DB) {
	s := d.NewSessionStore(10 * time.Millisecond)
	t.Cleanup(func() { s.Close() })
	if _, err := d.SQL.Exec(`INSERT INTO sessions (k, v, e) VALUES ('old', $1, 1), ('live', $1, 0)`, []byte{1}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got := sessionKeys(t, d); slices.Equal(got, []string{"live"}) {
			break
		} else if time.Now().After(end) {
			t.Fatalf("rows after 5 s = %q, want [live]", got)
		}
	}
}

func TestSessionStoreSetReplacesDeleteAndReset(t *testing.T) {
	eachEngine(t, testSessionStoreSetReplacesDeleteAndReset)
}

func testSessionStoreSetReplacesDeleteAndReset(t *testing.T, d *DB) {
	s := newStore(t, d)
	for _, kv := range [][2]string{{"a", "1"}, {"a", "2"}, {"b", "3"}, {"", "4"}, {"c", ""}} {
		if err := s.Set(kv[0], []byte(kv[1]), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Get("a"); string(got) != "2" {
		t.Errorf("Get(a) = %q, want %q", got, "2")
	}
	if got := sessionKeys(t, d); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("rows = %q, want [a b] (empty key or value stores nothing)", got)
	}
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("missing"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if got, _ := s.Get("a"); got != nil {
		t.Errorf("Get(a) after Delete = %q, want nil", got)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := sessionKeys(t, d); len(got) != 0 {
		t.Errorf("rows after Reset = %q, want none", got)
	}
}

func TestSessionStoreCloseLeavesTheDatabaseOpen(t *testing.T) {
	eachEngine(t, testSessionStoreCloseLeavesTheDatabaseOpen)
}

func testSessionStoreCloseLeavesTheDatabaseOpen(t *testing.T, d *DB) {
	s := d.NewSessionStore(time.Hour)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("Get after Close: err = %v, want ErrStoreClosed", err)
	}
	if err := s.Set("a", []byte("1"), 0); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("Set after Close: err = %v, want ErrStoreClosed", err)
	}
	if err := d.Ping(context.Background()); err != nil {
		t.Errorf("database closed with the store: %v", err)
	}
}
