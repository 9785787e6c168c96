package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The sweep of orphaned histories (docs/shared-rooms.md): a room's owner
// purges its history when it destroys the room, but a room whose owner
// died, and that nobody used again, has no owner left to do so, and its
// history would stay in the broker's memory for ever. Every node sweeps:
// the history of a room that has had no lease for a grace period (the
// time a room with no member lives on one node) is purged.
//
// A room claimed meanwhile must keep its history: the sweeper claims the
// room itself, with the create-only put any claimer uses, purges it and
// releases it. A node that claims the room while it is swept finds it
// held (by the sweeping node, which serves it once the sweep is over,
// from scratch); a room claimed before the sweeper's put is held, and not
// swept. Of several nodes sweeping one room, one claims it, and the
// others leave it.

// minSweepEvery bounds how often a node looks for orphaned histories.
const minSweepEvery = time.Second

// SweepOptions tune the sweep of orphaned histories (Owners.Sweep).
type SweepOptions struct {
	// Grace is how long a room must have had no lease, as this node's
	// watch saw it, before its history is purged.
	Grace time.Duration
	// Every is how often this node looks; zero means Grace/2, and never
	// more often than once a second.
	Every time.Duration
	// Rooms are rooms to look at besides those whose settings are stored
	// (every room made by a user has them): the permanent rooms.
	Rooms []string
	// Exclusive, if set, runs sweep, the claim, purge and release of room
	// slug, while this node takes no room over (a node holding the room
	// would restore it from the history being purged). It may decide not
	// to call sweep.
	Exclusive func(slug string, sweep func())
}

// Sweep has this node purge, until Close, the history of every room that
// has had no lease for opts.Grace.
func (o *Owners) Sweep(h *History, opts SweepOptions) {
	if opts.Every <= 0 {
		opts.Every = opts.Grace / 2
	}
	opts.Every = max(opts.Every, minSweepEvery)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.done.Add(1)
	go func() {
		defer o.done.Done()
		t := time.NewTicker(opts.Every)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
			}
			if _, err := o.sweepOnce(h, opts); err != nil && !errors.Is(err, ErrClosed) {
				o.log.Warn("NATS: sweeping the histories of rooms nobody holds", "err", err)
			}
		}
	}()
}

// sweepOnce purges the history of each room that has had no lease for
// opts.Grace, and returns those it purged.
func (o *Owners) sweepOnce(h *History, opts SweepOptions) ([]string, error) {
	stopped, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case <-o.stop:
			stop()
		case <-stopped.Done():
		}
	}()
	// Each step within half a lease: a sweeper's lease outlives its purge.
	ctx, cancel := context.WithTimeout(stopped, o.lease/2)
	rooms, err := h.rooms(ctx, opts.Rooms)
	cancel()
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, slug := range o.orphans(rooms, opts.Grace) {
		ctx, cancel := context.WithTimeout(stopped, o.lease/2)
		ok, err := o.sweepRoom(ctx, h, slug, opts)
		cancel()
		if ok {
			o.log.Info("NATS: purged the history of a room nobody holds", "room", slug)
			swept = append(swept, slug)
		}
		errs = append(errs, err)
	}
	return swept, errors.Join(errs...)
}

// orphans returns those of rooms (the rooms with a history) that have had
// no owner for grace, as the watch saw them; it starts counting for a
// room it finds with no owner for the first time, and forgets the rooms
// that have no history any more.
func (o *Owners) orphans(rooms []string, grace time.Duration) []string {
	now := time.Now()
	o.wmu.Lock()
	defer o.wmu.Unlock()
	listed := make(map[string]bool, len(rooms))
	var out []string
	for _, slug := range rooms {
		listed[slug] = true
		if o.owners[slug] != "" {
			delete(o.unowned, slug)
			continue
		}
		switch {
		case o.orphanLocked(slug, grace, now):
			out = append(out, slug)
		case o.unowned[slug].IsZero():
			o.unownedSinceLocked(slug, now)
		}
	}
	for slug := range o.unowned {
		if !listed[slug] {
			delete(o.unowned, slug)
		}
	}
	return out
}

// orphanLocked reports whether room slug has had no owner for grace at
// now, as the watch saw it. o.wmu must be held.
func (o *Owners) orphanLocked(slug string, grace time.Duration, now time.Time) bool {
	since, ok := o.unowned[slug]
	return ok && o.owners[slug] == "" && now.Sub(since) >= grace
}

// maxUnowned bounds the rooms whose time without an owner a node keeps;
// past it, it forgets them all and counts afresh: later, never sooner.
const maxUnowned = 100000

// unownedSinceLocked notes that room slug has had no owner since at.
// o.wmu must be held.
func (o *Owners) unownedSinceLocked(slug string, at time.Time) {
	if o.unowned == nil || len(o.unowned) >= maxUnowned {
		o.unowned = make(map[string]time.Time)
	}
	o.unowned[slug] = at
}

// sweepRoom claims room slug if no node has held it for opts.Grace,
// purges its history and releases it, and reports whether it did.
func (o *Owners) sweepRoom(ctx context.Context, h *History, slug string, opts SweepOptions) (swept bool, err error) {
	sweep := func() {
		o.mu.Lock()
		closed, held := o.closed, o.held[slug] != nil
		o.mu.Unlock()
		o.wmu.Lock()
		// Again: the rooms before it in the round took time, and a node
		// may have held it meanwhile, or given it up just now.
		orphan := o.orphanLocked(slug, opts.Grace, time.Now())
		o.wmu.Unlock()
		if closed || held || !orphan {
			return
		}
		at := time.Now()
		rev, cerr := o.kv.Create(ctx, slug, o.value)
		if errors.Is(cerr, jetstream.ErrKeyExists) {
			return // a node holds it now: it keeps its history
		}
		if cerr != nil {
			err = fmt.Errorf("NATS: claiming room %s to sweep it: %w", slug, cerr)
			return
		}
		if _, err = o.won(ctx, slug, rev, at); err != nil {
			return
		}
		if err = h.purge(ctx, slug); err != nil {
			// The broker may still apply it: no node may claim the room
			// before the lease expires, unrenewed. The room's grace then
			// starts again.
			o.mu.Lock()
			delete(o.held, slug)
			o.mu.Unlock()
			return
		}
		swept = true
		err = o.Release(context.WithoutCancel(ctx), slug)
	}
	if opts.Exclusive != nil {
		opts.Exclusive(slug, sweep)
	} else {
		sweep()
	}
	return swept, err
}

// rooms returns the rooms that have a history in the stream: those whose
// settings are stored, and those of also that hold any entry.
func (h *History) rooms(ctx context.Context, also []string) ([]string, error) {
	info, err := h.stream.Info(ctx, jetstream.WithSubjectFilter(settingsSubject("*")))
	if isStreamGone(err) {
		return nil, nil // lost with a server that restarted: nothing to sweep
	}
	if err != nil {
		return nil, fmt.Errorf("NATS: listing the rooms with a history: %w", err)
	}
	var out []string
	for subject := range info.State.Subjects {
		slug, _, _ := strings.Cut(strings.TrimPrefix(subject, historyPrefix), ".")
		out = append(out, slug)
	}
	for _, slug := range also {
		if checkSlug(slug) != nil || info.State.Subjects[settingsSubject(slug)] > 0 {
			continue
		}
		info, err := h.stream.Info(ctx, jetstream.WithSubjectFilter(historyPrefix+slug+".*"))
		if err != nil {
			return nil, fmt.Errorf("NATS: looking for the history of room %s: %w", slug, err)
		}
		if len(info.State.Subjects) > 0 {
			out = append(out, slug)
		}
	}
	return out, nil
}
