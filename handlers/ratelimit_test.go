package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"natter/db"
	"natter/internal/pgtest"
)

func TestWindowLimit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newWindowLimit(5, time.Hour)
	l.now = func() time.Time { return now }
	for i := 1; i <= 5; i++ {
		if !l.allow("a") {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.allow("a") {
		t.Error("sixth event allowed")
	}
	if !l.allow("b") {
		t.Error("another key refused")
	}
	now = now.Add(time.Hour)
	if !l.allow("a") {
		t.Error("refused after the window")
	}
	now = now.Add(2 * time.Hour)
	l.allow("c")
	if _, ok := l.counts["b"]; ok {
		t.Error("finished windows are not forgotten")
	}
}

// TestWindowLimitOwnsKeys: a key whose bytes the caller reuses (as
// fasthttp reuses request buffers) still counts under its old value.
func TestWindowLimitOwnsKeys(t *testing.T) {
	l := newWindowLimit(1, time.Hour)
	buf := []byte("alice@example.com")
	key := unsafe.String(&buf[0], len(buf))
	l.allow(key)
	copy(buf, "bobby@example.com")
	if l.allow("alice@example.com") {
		t.Error("alice's count was lost when the buffer was reused")
	}
}

func TestRecentSet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := newRecentSet(time.Hour, 2)
	r.now = func() time.Time { return now }
	r.add("a")
	r.add("b")
	r.add("c") // full: not remembered
	if !r.has("a") || !r.has("b") || r.has("c") {
		t.Errorf("has a, b, c = %v %v %v; want true true false", r.has("a"), r.has("b"), r.has("c"))
	}
	now = now.Add(time.Hour)
	if r.has("a") {
		t.Error("a is remembered past its ttl")
	}
	r.add("c") // the sweep makes room
	if !r.has("c") {
		t.Error("c not remembered after the expired keys were swept")
	}
}

// The shared counterparts of windowLimit and recentSet count in
// PostgreSQL, and refuse when it cannot answer: no reset mail, no known
// address.
func TestSharedLimitsRefuseWithoutTheDatabase(t *testing.T) {
	d, err := db.OpenPostgres(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	l := &sharedLimits{db: d, log: slog.New(slog.NewTextHandler(&logged, nil))}
	w, r := l.window("reset-mail", 2, time.Hour), l.recent("known-sign-in", time.Hour)
	if got := []bool{w.allow("a"), w.allow("a"), w.allow("a"), w.allow("b")}; !slices.Equal(got, []bool{true, true, false, true}) {
		t.Errorf("allow a, a, a, b = %v; want true true false true", got)
	}
	if n := w.count("a"); n != 3 {
		t.Errorf("count(a) = %d, want 3", n)
	}
	r.add("alice@198.51.100.7")
	if !r.has("alice@198.51.100.7") || r.has("alice@198.51.100.8") {
		t.Error("has: want the added key only")
	}
	d.Close()
	if w.allow("c") || r.has("alice@198.51.100.7") {
		t.Error("with the database closed, a limit or an exemption let a request through")
	}
	if !strings.Contains(logged.String(), `msg="rate limit: counting" limit=reset-mail: err="sql: database is closed"`) {
		t.Errorf("log:\n%s", logged.String())
	}
}
