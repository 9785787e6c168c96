package db

import (
	"context"
	"sync"
	"testing"
	"time"

	"natter/internal/pgtest"
)

// Two nodes on one PostgreSQL count into one total, with nothing lost when
// they count at once.
func TestCountEventAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openPostgresAt(t, url), openPostgresAt(t, url)
	// 10 s into a minute window.
	start := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	clockAt(a, start)
	clockAt(b, start)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := a
			if i%2 == 1 {
				d = b
			}
			if _, err := d.CountEvent(ctx, "login:198.51.100.7", time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, err := b.CountEvent(ctx, "login:198.51.100.7", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.This != 21 || c.Before != 0 || c.Rate != 21 || c.ResetIn != 50*time.Second {
		t.Errorf("count = %+v; want 21 this window, none before, rate 21, reset in 50s", c)
	}
	if other, _ := a.CountEvent(ctx, "login:198.51.100.8", time.Minute); other.This != 1 {
		t.Errorf("another key counted %d, want 1", other.This)
	}

	// 45 s into the next window, the last one's 21 weigh a quarter: 5.
	clockAt(a, start.Add(95*time.Second))
	c, err = a.CountEvent(ctx, "login:198.51.100.7", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.This != 1 || c.Before != 21 || c.Rate != 6 || c.ResetIn != 15*time.Second {
		t.Errorf("next window: %+v; want 1 this, 21 before, rate 1+21/4 = 6, reset in 15s", c)
	}
	if r, err := b.EventRate(ctx, "login:198.51.100.7", time.Minute); err != nil || r != 21 {
		// b's clock is still in the first window, which holds 21, and the
		// window before it nothing.
		t.Errorf("EventRate on b = %d, %v; want 21", r, err)
	}
	clockAt(b, start.Add(95*time.Second))
	if r, err := b.EventRate(ctx, "login:198.51.100.7", time.Minute); err != nil || r != 6 {
		t.Errorf("EventRate = %d, %v; want 6", r, err)
	}
	if err := b.UncountEvent(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r, _ := a.EventRate(ctx, "login:198.51.100.7", time.Minute); r != 5 {
		t.Errorf("EventRate after UncountEvent = %d, want 5", r)
	}

	// Two windows on, nothing is read any more and the sweep removes it.
	clockAt(a, start.Add(3*time.Minute))
	n, err := a.DeleteExpiredLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // the key's two windows and the other key's one
		t.Errorf("DeleteExpiredLimits removed %d rows, want 3", n)
	}
}

func TestRememberKeyAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openPostgresAt(t, url), openPostgresAt(t, url)
	start := time.Unix(1_800_000_000, 0)
	clockAt(a, start)
	clockAt(b, start)
	if err := a.RememberKey(ctx, "login-account:1@198.51.100.7", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Remembered(ctx, "login-account:1@198.51.100.7"); !ok || err != nil {
		t.Errorf("Remembered on the other node = %v, %v; want true", ok, err)
	}
	if ok, _ := b.Remembered(ctx, "login-account:1@198.51.100.8"); ok {
		t.Error("a key never remembered is")
	}
	clockAt(b, start.Add(time.Hour))
	if ok, _ := b.Remembered(ctx, "login-account:1@198.51.100.7"); ok {
		t.Error("remembered past its ttl")
	}
	if n, err := b.DeleteExpiredLimits(ctx); n != 1 || err != nil {
		t.Errorf("DeleteExpiredLimits = %d, %v; want 1", n, err)
	}
}

// On SQLite the limits are counted in memory by the web layer: the
// database refuses to pretend it shares them.
func TestLimitsNeedPostgres(t *testing.T) {
	d, _ := openTemp(t)
	ctx := context.Background()
	if _, err := d.CountEvent(ctx, "k", time.Minute); err != errNotShared {
		t.Errorf("CountEvent on SQLite = %v, want %v", err, errNotShared)
	}
	if err := d.RememberKey(ctx, "k", time.Minute); err != errNotShared {
		t.Errorf("RememberKey on SQLite = %v, want %v", err, errNotShared)
	}
	if d.Shared() {
		t.Error("SQLite says it is shared")
	}
}
