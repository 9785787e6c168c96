package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The watch of the bucket of leases: every room's owner as this node
// knows it (OnOwner), and the loss of a room this node holds told as soon
// as the bucket says so rather than at its next renewal.

// startWatch watches every key of the bucket, replacing the watcher it
// had, and has read the current owners when it returns: a room whose
// owner the new watcher does not find (the server lost it) is told as
// having none.
func (o *Owners) startWatch(ctx context.Context) error {
	// nats.go ends a watcher when the context it was made with ends, and
	// this one lives until Close: its making is bounded by the client's
	// own request timeout instead.
	w, err := o.kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("NATS: watching %s: %w", ownersBucket, err)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		_ = w.Stop()
		return ErrClosed
	}
	o.done.Add(2) // this call's reading, and the watcher's goroutine
	o.mu.Unlock()
	defer o.done.Done()
	o.wmu.Lock()
	if o.watch != nil {
		_ = o.watch.Stop()
	}
	o.watch = w
	o.wgen++
	gen, before := o.wgen, o.owners
	o.owners = make(map[string]string)
	o.wmu.Unlock()
	if o.isClosed() {
		// Close may have stopped the watcher before this one: stop this
		// one too, so that its goroutine ends.
		_ = w.Stop()
	}
	for e := range w.Updates() {
		if e == nil {
			break // the current values are all in
		}
		o.seen(gen, e)
	}
	for slug := range before {
		o.wmu.Lock()
		_, still := o.owners[slug]
		if !still {
			o.unownedSinceLocked(slug, time.Now())
		}
		o.wmu.Unlock()
		if !still && o.opts.OnOwner != nil {
			o.opts.OnOwner(slug, "")
		}
	}
	go func() {
		defer o.done.Done()
		for e := range w.Updates() {
			if e != nil {
				o.seen(gen, e)
			}
		}
	}()
	return nil
}

// seen applies one change of the bucket from watcher gen: the room's
// owner as this node knows it, and the loss of a room this node holds
// when the change is newer than its lease and not its own renewal.
func (o *Owners) seen(gen int, e jetstream.KeyValueEntry) {
	slug, owner := e.Key(), ""
	if e.Operation() == jetstream.KeyValuePut {
		owner = decodeOwner(e.Value())
	}
	o.wmu.Lock()
	if gen != o.wgen {
		o.wmu.Unlock()
		return // a watcher replaced since
	}
	changed := o.owners[slug] != owner
	if owner == "" {
		delete(o.owners, slug)
		if changed {
			o.unownedSinceLocked(slug, time.Now())
		}
	} else {
		o.owners[slug] = owner
		delete(o.unowned, slug)
	}
	o.wmu.Unlock()

	o.mu.Lock()
	l := o.held[slug]
	gone := l != nil && e.Revision() > l.rev && !o.mine(e)
	if gone {
		delete(o.held, slug)
	}
	if !o.mine(e) {
		delete(o.gaveUp, slug) // not this process's lease any more
	}
	o.mu.Unlock()
	if gone {
		o.lost(slug, fmt.Errorf("the bucket says %s", describe(owner)))
	}
	if changed && o.opts.OnOwner != nil {
		o.opts.OnOwner(slug, owner)
	}
}

func describe(owner string) string {
	if owner == "" {
		return "the lease expired"
	}
	return "node " + owner + " holds it"
}

func (o *Owners) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}
