package handlers

import (
	"testing"
	"time"
	"unsafe"
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
