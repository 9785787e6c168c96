package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Room ownership (docs/shared-rooms.md): at any moment each room is held
// by one node, its owner, through a lease in the JetStream key-value
// bucket ownersBucket (memory storage): the key is the room's slug, the
// value names the node. A node claims a room with a create-only put, so
// of two nodes racing for a room exactly one wins; it renews the lease by
// a put that expects the revision it last wrote, so a lease that was
// lost (expired, then claimed by another node) is never taken back by
// mistake. The bucket's TTL is the lease: a key no one renews expires
// (the owner died, or was cut off from NATS), and the server then writes
// a marker that every watcher sees. A node that stops releases its rooms
// with a delete that expects its revision, and they are claimable at once.
//
// A put whose answer never came (NATS stalled, the client's wait ended)
// may still have been applied: a lease's value names this process (the
// node and a random id made at start, ownerValue), so that a renewal that
// finds the revision moved reads the key back and keeps the lease if the
// value is its own (a renewal it gave up on landed late), and a claim that
// finds the room held by this node's name but not in its leases takes it
// back (its own late renewal, or a lease of this node's previous process,
// killed before the lease expired), rather than taking a room it does not
// hold for one it does.

// ownersBucket is the key-value bucket of room leases.
const ownersBucket = "natter_rooms"

// DefaultLease is how long a room's lease outlives its owner's last
// renewal. A room whose owner dies is claimable after at most this (plus
// the server's expiry check). Shorter fails over faster but renews more
// often and makes a slow broker or a long pause cost the lease.
const DefaultLease = 8 * time.Second

// renewRounds is how many renewals a lease gets per Lease: one renewal
// may fail (a slow broker, a reconnect) without the lease being lost.
const renewRounds = 4

// ErrClosed is returned by Owners' methods after Close.
var ErrClosed = errors.New("cluster: closed")

// OwnersOptions tune Owners. Every node of a cluster must use the same
// Lease: the bucket has one TTL.
type OwnersOptions struct {
	// Lease is the lease's length (the bucket's TTL); zero means
	// DefaultLease. It is renewed every Lease/4.
	Lease time.Duration
	// OnLost, if set, is called when this node stops owning a room it
	// held without having released it: its lease expired, another node
	// holds it, or renewals failed until the next one could come too
	// late (the node must stop acting as the owner before the lease can
	// expire and another node claim the room). Called from
	// Owners' own goroutines, never with a lock held, once per loss.
	OnLost func(slug string)
	// OnOwner, if set, is called when the owner of a room changes as this
	// node sees it: owner is the node's name, or "" when the room has no
	// owner any more (released, or the lease expired). Called from
	// Owners' watcher goroutine, in the order of the bucket's changes.
	OnOwner func(slug, owner string)
}

// Owners holds this node's room leases and watches every room's owner.
// Its methods are safe for concurrent use.
type Owners struct {
	js    jetstream.JetStream
	cfg   jetstream.KeyValueConfig // the bucket's, to make it again
	kv    jetstream.KeyValue       // by name: still good once made again
	node  string
	value []byte // what this process's leases hold: ownerValue of node and its id
	lease time.Duration
	renew time.Duration
	log   *slog.Logger
	opts  OwnersOptions

	mu     sync.Mutex
	closed bool
	held   map[string]*lease // the rooms this node owns, by slug
	// gaveUp holds the rooms whose lease this process gave up when its
	// renewals failed: a claim may take such a lease back (Claim).
	gaveUp map[string]bool
	stop   chan struct{}  // closed by Close: the renewal loop ends
	done   sync.WaitGroup // the renewal loop and the watchers

	// The watch (owners_watch.go).
	wmu    sync.Mutex
	watch  jetstream.KeyWatcher
	wgen   int               // counts watchers: a stopped one's late changes are dropped
	owners map[string]string // every room's owner, as the watch saw it
	// unowned is when the watch saw each room with no owner lose it, or
	// the sweep first found it so (sweep.go).
	unowned map[string]time.Time
}

// lease is this node's hold on one room.
type lease struct {
	rev uint64 // the revision this node last wrote
	// at is when the put that wrote rev was sent: the lease lasts at
	// least Lease from then, since the server stored it later.
	at time.Time
}

// ownerValue is what a lease's key holds. It is JSON so that what the
// lobby needs of a room can join the owner's name later.
type ownerValue struct {
	Node string `json:"node"`
	// Proc tells this node's processes apart: random, made by NewOwners.
	// (Older versions wrote no Proc.)
	Proc string `json:"proc,omitempty"`
}

// NewOwners opens (creating it if needed) the bucket of room leases on
// conn for the node named node, starts renewing the leases it will claim
// and watching every room's owner. The watch has seen every room's
// current owner when it returns.
func NewOwners(ctx context.Context, conn *Conn, node string, opts OwnersOptions, log *slog.Logger) (*Owners, error) {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	var proc [8]byte
	if _, err := rand.Read(proc[:]); err != nil {
		return nil, err
	}
	value, err := json.Marshal(ownerValue{Node: node, Proc: hex.EncodeToString(proc[:])})
	if err != nil {
		return nil, err
	}
	o := &Owners{
		js: conn.js, node: node, value: value, log: log, opts: opts,
		cfg: jetstream.KeyValueConfig{
			Bucket:      ownersBucket,
			Description: "Natter: which node owns each room (a lease per room)",
			History:     1,
			TTL:         opts.Lease,
			Storage:     jetstream.MemoryStorage,
			// Markers make an expired lease visible to the watchers; they
			// outlive the lease itself so a slow watcher still sees them.
			LimitMarkerTTL: opts.Lease,
		},
		lease: opts.Lease, renew: opts.Lease / renewRounds,
		held:   make(map[string]*lease),
		gaveUp: make(map[string]bool),
		stop:   make(chan struct{}),
		owners: make(map[string]string),
	}
	kv, err := o.ensure(ctx)
	if err != nil {
		return nil, err
	}
	o.kv = kv
	if err := o.startWatch(ctx); err != nil {
		return nil, err
	}
	o.done.Add(1)
	go o.renewLoop()
	conn.onReconnect(o.reconnected)
	return o, nil
}

// ensure makes the bucket, or checks that it is there as configured.
func (o *Owners) ensure(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, o.cfg)
	if err != nil {
		return nil, fmt.Errorf("NATS: the bucket %s: %w", ownersBucket, err)
	}
	return kv, nil
}

// reconnected makes the bucket again if the server lost it (a server
// restarted loses what it held in memory, every lease with it: their
// renewals fail and their rooms are lost) and watches it afresh.
func (o *Owners) reconnected() {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if _, err := o.ensure(ctx); err != nil {
		o.log.Warn("NATS: after reconnecting", "err", err)
		return
	}
	if err := o.startWatch(ctx); err != nil && !errors.Is(err, ErrClosed) {
		o.log.Warn("NATS: after reconnecting", "err", err)
	}
}

// Claim makes this node the owner of room slug if it has none, and
// returns the room's owner: this node's name when it holds the room now
// (it won, or held it already), another node's when that node does. Of
// several nodes claiming one unowned room at once, exactly one wins.
func (o *Owners) Claim(ctx context.Context, slug string) (owner string, err error) {
	if err := checkSlug(slug); err != nil {
		return "", err
	}
	// A room released or expired between the failed create and the read
	// of its owner is tried again, a few times.
	for range 3 {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return "", ErrClosed
		}
		if _, ok := o.held[slug]; ok {
			o.mu.Unlock()
			return o.node, nil
		}
		o.mu.Unlock()
		at := time.Now()
		rev, err := o.kv.Create(ctx, slug, o.value)
		if err == nil {
			return o.won(ctx, slug, rev, at)
		}
		if isStreamGone(err) {
			// The server restarted, and its memory with it: make the
			// bucket again and claim again.
			if _, err := o.ensure(ctx); err != nil {
				return "", err
			}
			continue
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("NATS: claiming room %s: %w", slug, err)
		}
		e, err := o.kv.Get(ctx, slug)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			continue // gone meanwhile: create again
		case err != nil:
			return "", fmt.Errorf("NATS: the owner of room %s: %w", slug, err)
		}
		owner := decodeOwner(e.Value())
		if owner == "" {
			continue
		}
		if owner != o.node {
			return owner, nil
		}
		// The bucket names this node, which does not hold the room: a
		// process of this node that is gone (killed) held it, or this
		// process gave the lease up when its renewals failed (and one of
		// them was applied late, or the lease has not expired yet). No
		// other node holds it: take the lease back, if it did not move
		// meanwhile. A lease this process let go otherwise (a release
		// that failed, a sweep whose purge failed) is left to expire.
		o.mu.Lock()
		gaveUp := o.gaveUp[slug]
		o.mu.Unlock()
		if !gaveUp && o.mine(e) {
			return "", fmt.Errorf("NATS: room %s: this node let its lease go; it is claimable once it expires", slug)
		}
		return o.takeBack(ctx, slug, e.Revision())
	}
	return "", fmt.Errorf("NATS: claiming room %s: its owner keeps changing", slug)
}

// takeBack makes this process the holder of room slug, whose lease at
// revision rev names this node.
func (o *Owners) takeBack(ctx context.Context, slug string, rev uint64) (string, error) {
	at := time.Now()
	rev, err := o.kv.Update(ctx, slug, o.value, rev)
	switch {
	case err == nil:
		o.log.Info("NATS: a room's lease that names this node is held again", "room", slug)
		return o.won(ctx, slug, rev, at)
	case isRevisionMismatch(err), errors.Is(err, jetstream.ErrKeyNotFound):
		// It moved: released, expired, or claimed by another node.
		return o.Owner(ctx, slug)
	}
	return "", fmt.Errorf("NATS: claiming room %s: %w", slug, err)
}

// won records the lease just created; if Close came meanwhile it gives
// the room up again.
func (o *Owners) won(ctx context.Context, slug string, rev uint64, at time.Time) (string, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		_ = o.kv.Delete(ctx, slug, jetstream.LastRevision(rev))
		return "", ErrClosed
	}
	o.held[slug] = &lease{rev: rev, at: at}
	delete(o.gaveUp, slug)
	o.mu.Unlock()
	return o.node, nil
}

// Owner returns the node that owns room slug now, as the bucket says, or
// "" when it has none.
func (o *Owners) Owner(ctx context.Context, slug string) (string, error) {
	if err := checkSlug(slug); err != nil {
		return "", err
	}
	e, err := o.kv.Get(ctx, slug)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("NATS: the owner of room %s: %w", slug, err)
	}
	return decodeOwner(e.Value()), nil
}

// Known returns room slug's owner as the watch last saw it, or "": no
// round trip, so possibly a moment late.
func (o *Owners) Known(slug string) string {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	return o.owners[slug]
}

// Nodes returns the other nodes that own a room, as the watch saw them.
func (o *Owners) Nodes() []string {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	seen := make(map[string]bool)
	var out []string
	for _, owner := range o.owners {
		if owner != o.node && !seen[owner] {
			seen[owner] = true
			out = append(out, owner)
		}
	}
	return out
}

// Holds reports whether this node owns room slug now.
func (o *Owners) Holds(slug string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.held[slug]
	return ok
}

// Release gives up this node's lease on room slug, if it holds one: the
// room is claimable at once. Releasing a room it does not hold does
// nothing.
func (o *Owners) Release(ctx context.Context, slug string) error {
	o.mu.Lock()
	l := o.held[slug]
	delete(o.held, slug)
	o.mu.Unlock()
	if l == nil {
		return nil
	}
	return o.release(ctx, slug, l.rev)
}

// release deletes the lease of slug if it is still the one at rev.
func (o *Owners) release(ctx context.Context, slug string, rev uint64) error {
	err := o.kv.Delete(ctx, slug, jetstream.LastRevision(rev))
	if err != nil && !isRevisionMismatch(err) {
		// Not released: the lease expires by itself within Lease.
		return fmt.Errorf("NATS: releasing room %s: %w", slug, err)
	}
	// A mismatch: the lease had been lost already.
	return nil
}

// Close stops renewing, releases every room this node holds (so other
// nodes may claim them at once) and stops watching. Later claims get
// ErrClosed. OnLost is not called for the rooms released.
func (o *Owners) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	held := o.held
	o.held = make(map[string]*lease)
	close(o.stop)
	o.mu.Unlock()
	var errs []error
	for slug, l := range held {
		errs = append(errs, o.release(ctx, slug, l.rev))
	}
	o.wmu.Lock()
	errs = append(errs, o.watch.Stop())
	o.wmu.Unlock()
	o.done.Wait()
	return errors.Join(errs...)
}

// renewLoop renews every lease each renewal period until Close.
func (o *Owners) renewLoop() {
	defer o.done.Done()
	t := time.NewTicker(o.renew)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.renewAll()
		}
	}
}

// renewAll renews each lease held, one after the other.
func (o *Owners) renewAll() {
	o.mu.Lock()
	held := make(map[string]*lease, len(o.held))
	for slug, l := range o.held {
		held[slug] = l
	}
	o.mu.Unlock()
	for slug, l := range held {
		select {
		case <-o.stop:
			return
		default:
		}
		o.renewOne(slug, l)
	}
}

// renewOne renews the lease l of room slug, or declares it lost.
func (o *Owners) renewOne(slug string, l *lease) {
	ctx, cancel := context.WithTimeout(context.Background(), o.renew)
	defer cancel()
	at := time.Now()
	rev, err := o.kv.Update(ctx, slug, o.value, l.rev)
	if isRevisionMismatch(err) {
		rev, at, err = o.readBack(slug, err)
	}
	o.mu.Lock()
	if o.held[slug] != l {
		o.mu.Unlock() // released (or lost) meanwhile
		return
	}
	switch {
	case err == nil:
		l.rev, l.at = rev, at
		o.mu.Unlock()
		return
	case isRevisionMismatch(err), errors.Is(err, jetstream.ErrKeyNotFound):
		// Expired, and maybe claimed by another node since.
	case time.Since(l.at)+o.renew < o.lease-o.renew/2:
		// The next renewal, one period from now, still comes half a
		// period before the lease could expire.
		o.mu.Unlock()
		o.log.Warn("NATS: a room's lease was not renewed; trying again", "room", slug, "err", err)
		return
	default:
		// The next renewal could come too late: stop being the owner now,
		// before the lease can expire and another node claim the room.
	}
	delete(o.held, slug)
	if len(o.gaveUp) >= maxGaveUp {
		clear(o.gaveUp)
	}
	o.gaveUp[slug] = true
	o.mu.Unlock()
	o.lost(slug, err)
}

// maxGaveUp bounds the rooms whose lease this process gave up that it
// remembers (Owners.gaveUp); past it, it forgets them all: a claim of one
// of them then waits for its lease to expire.
const maxGaveUp = 10000

// readBack resolves a renewal that found the lease's revision moved
// (mismatch is that error): a renewal whose answer never came (given up
// on, NATS stalled) may have been applied after all. If the key still
// holds this process's value the lease is this process's, at the key's
// revision: it is renewed from there at once. Else the lease was lost
// (mismatch is returned).
func (o *Owners) readBack(slug string, mismatch error) (uint64, time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.renew)
	defer cancel()
	e, err := o.kv.Get(ctx, slug)
	if err != nil || !o.mine(e) {
		return 0, time.Time{}, mismatch
	}
	o.log.Info("NATS: a room's lease renewal given up on was applied late; the lease is kept", "room", slug)
	at := time.Now()
	rev, err := o.kv.Update(ctx, slug, o.value, e.Revision())
	return rev, at, err
}

// mine reports whether a change of the bucket is a put of this process's
// value: one of its claims or renewals.
func (o *Owners) mine(e jetstream.KeyValueEntry) bool {
	return e.Operation() == jetstream.KeyValuePut && bytes.Equal(e.Value(), o.value)
}

// lost tells that this node no longer owns slug.
func (o *Owners) lost(slug string, why error) {
	o.log.Warn("NATS: lost the lease of a room", "room", slug, "err", why)
	if o.opts.OnLost != nil {
		o.opts.OnLost(slug)
	}
}

// decodeOwner reads the node's name from a lease's value; "" if it is not
// one.
func decodeOwner(value []byte) string {
	var v ownerValue
	if json.Unmarshal(value, &v) != nil {
		return ""
	}
	return v.Node
}

// isStreamGone reports whether err says the stream (or the bucket) is
// not on the server: it restarted and lost what it held in memory.
func isStreamGone(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound)
}

// isRevisionMismatch reports whether err says a put or delete expected a
// revision that is not the key's latest.
func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// checkSlug refuses a room name that cannot be a key or a subject token:
// Natter's slugs (a-z, 0-9, - and _) always can.
func checkSlug(slug string) error {
	if slug == "" || len(slug) > 64 {
		return fmt.Errorf("cluster: bad room name %q", slug)
	}
	for _, c := range slug {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("cluster: bad room name %q", slug)
		}
	}
	return nil
}
