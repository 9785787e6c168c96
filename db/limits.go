package db

import (
	"context"
	"errors"
	"time"
)

// errNotShared is CountEvent's and its kin's answer on SQLite, where one
// node counts in memory.
var errNotShared = errors.New("db: shared limits need PostgreSQL")

// EventCount is the count of one key's events that CountEvent returns.
type EventCount struct {
	Key    string
	Window time.Duration
	// Slot numbers the window the event fell in: windows are aligned on
	// the epoch, slot = Unix time / Window.
	Slot int64
	// This and Before are the events in this window and the one before.
	This, Before int
	// Rate is the sliding estimate of events in the last Window: This,
	// plus Before weighted by how much of the last Window it still covers
	// (the estimate of Fiber's sliding-window limiter).
	Rate int
	// ResetIn is the time until this window ends.
	ResetIn time.Duration
}

// CountEvent adds one event for key and returns the counts, in one atomic
// statement, so that any number of nodes counting at once lose nothing.
// It runs on PostgreSQL only (Shared): on SQLite the web layer counts in
// memory and this returns an error.
func (d *DB) CountEvent(ctx context.Context, key string, window time.Duration) (EventCount, error) {
	if !d.Shared() {
		return EventCount{}, errNotShared
	}
	w, slot, left := d.slotNow(window)
	c := EventCount{Key: key, Window: time.Duration(w) * time.Second, Slot: slot, ResetIn: left}
	err := d.SQL.QueryRowContext(ctx, `INSERT INTO rate_counts AS r (key, window_s, slot, hits, expires_at)
		VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (key, window_s, slot) DO UPDATE SET hits = r.hits + 1
		RETURNING r.hits, coalesce((SELECT p.hits FROM rate_counts p WHERE p.key = $1 AND p.window_s = $2 AND p.slot = $3 - 1), 0)`,
		key, w, slot, (slot+2)*w).Scan(&c.This, &c.Before)
	if err != nil {
		return EventCount{}, err
	}
	c.Rate = slidingRate(c.This, c.Before, left, c.Window)
	return c, nil
}

// slotNow returns window in whole seconds (at least one), the number of
// the window that holds now (windows are aligned on the epoch), and the
// time left in it.
func (d *DB) slotNow(window time.Duration) (w, slot int64, left time.Duration) {
	w = max(int64(window/time.Second), 1)
	nowMs := d.Now().UnixMilli()
	slot = nowMs / 1000 / w
	return w, slot, time.Duration((slot+1)*w*1000-nowMs) * time.Millisecond
}

// slidingRate estimates the events of the last window: this window's,
// plus the one before's weighted by the share of the window still left.
func slidingRate(this, before int, left, window time.Duration) int {
	return int(float64(before)*float64(left)/float64(window)) + this
}

// UncountEvent takes back an event CountEvent counted (a request that, in
// the end, the limit does not count, such as a successful sign-in).
func (d *DB) UncountEvent(ctx context.Context, c EventCount) error {
	if !d.Shared() {
		return errNotShared
	}
	_, err := d.SQL.ExecContext(ctx, `UPDATE rate_counts SET hits = hits - 1
		WHERE key = $1 AND window_s = $2 AND slot = $3 AND hits > 0`, c.Key, int64(c.Window/time.Second), c.Slot)
	return err
}

// EventRate is the sliding estimate of key's events in the last window,
// as CountEvent's Rate, without counting one.
func (d *DB) EventRate(ctx context.Context, key string, window time.Duration) (int, error) {
	if !d.Shared() {
		return 0, errNotShared
	}
	w, slot, left := d.slotNow(window)
	var this, before int
	err := d.SQL.QueryRowContext(ctx, `SELECT
		coalesce(sum(hits) FILTER (WHERE slot = $3), 0), coalesce(sum(hits) FILTER (WHERE slot = $3 - 1), 0)
		FROM rate_counts WHERE key = $1 AND window_s = $2 AND slot IN ($3, $3 - 1)`, key, w, slot).Scan(&this, &before)
	if err != nil {
		return 0, err
	}
	return slidingRate(this, before, left, time.Duration(w)*time.Second), nil
}

// RememberKey remembers key for ttl from now (the addresses an account
// signed in from lately), for Remembered on any node.
func (d *DB) RememberKey(ctx context.Context, key string, ttl time.Duration) error {
	if !d.Shared() {
		return errNotShared
	}
	_, err := d.SQL.ExecContext(ctx, `INSERT INTO rate_marks (key, until) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET until = excluded.until`, key, d.Now().Add(ttl).Unix())
	return err
}

// Remembered reports whether key was remembered within its ttl.
func (d *DB) Remembered(ctx context.Context, key string) (bool, error) {
	if !d.Shared() {
		return false, errNotShared
	}
	var n int
	err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM rate_marks WHERE key = $1 AND until > $2`,
		key, d.now()).Scan(&n)
	return n > 0, err
}

// DeleteExpiredLimits removes the counts no estimate reads any more and
// the keys remembered past their ttl, and reports how many rows went.
func (d *DB) DeleteExpiredLimits(ctx context.Context) (int64, error) {
	if !d.Shared() {
		return 0, errNotShared
	}
	now := d.Now()
	a, err := d.SQL.ExecContext(ctx, `DELETE FROM rate_counts WHERE expires_at <= $1`, now.Unix())
	if err != nil {
		return 0, err
	}
	b, err := d.SQL.ExecContext(ctx, `DELETE FROM rate_marks WHERE until <= $1`, now.Unix())
	if err != nil {
		return 0, err
	}
	na, _ := a.RowsAffected()
	nb, _ := b.RowsAffected()
	return na + nb, nil
}
