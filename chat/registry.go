package chat

import (
	"slices"
	"sync"

	"golang.org/x/time/rate"
)

// Registry holds every room, member and connection of the server, in
// memory. It is a mutex-guarded structure, not a hub goroutine: callers'
// goroutines do the work, and there is nothing to leak. All methods are
// safe for concurrent use.
type Registry struct {
	cfg    Config
	render Renderer
	bufs   sync.Pool // *[]byte buffers in which writers join queued frames
	count  counters
	pool   *writerPool // writes the connections of DirectSockets (pool.go)
	wheel  pingWheel   // pings them
	// relay, if set, carries notices to other nodes (RelayNotices).
	relay func(userID int64, frame []byte)

	mu        sync.Mutex
	closed    bool
	rooms     map[string]*room
	permanent []*room // in Config.Permanent order
	userRooms int     // live non-permanent rooms, capped by MaxRooms
	users     map[int64]*user
	sessions  map[string][]*Client // connections by session tag
	// visitors holds the message buckets of users the registry keeps no
	// record of: those who post without a connection (PostVisitor) until
	// they get one, and those who left with a bucket not yet full again;
	// see visitorLimiter and dropIdleLocked.
	visitors map[int64]*rate.Limiter
	// actions holds the users' buckets for edits, reactions and typing
	// signals (limits.go).
	actions map[int64]*actionBuckets
}

// New returns a registry with cfg's limits (zero fields take defaults, see
// Config) that renders frames with r, which must not be nil. The permanent
// rooms exist from the start.
func New(cfg Config, r Renderer) *Registry {
	reg := &Registry{
		cfg:      cfg.withDefaults(),
		render:   r,
		rooms:    make(map[string]*room),
		users:    make(map[int64]*user),
		sessions: make(map[string][]*Client),
		visitors: make(map[int64]*rate.Limiter),
		actions:  make(map[int64]*actionBuckets),
	}
	reg.bufs.New = func() any { return new([]byte) }
	reg.pool = newWriterPool(reg)
	reg.wheel.reg = reg
	for _, slug := range reg.cfg.Permanent {
		rm := newRoom(slug, true, 0, &reg.cfg)
		reg.rooms[slug] = rm
		reg.permanent = append(reg.permanent, rm)
	}
	return reg
}

// Close shuts the registry down: every connection is closed with 1012
// (service restart) so browsers reconnect to the next process, and its
// writer returns after sending that frame; grace timers are stopped,
// members waiting out their grace period and rooms nobody joined are
// removed at once (with a HandoverStore, every room's members are stored
// first, for the node that takes the room over). Later Joins, Ensures and
// Posts get ErrClosed; Leave still works and removes members without
// notices, so once every Serve has called Leave the registry is empty.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	rooms := make([]*room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	clients := r.relayClientsLocked()
	r.mu.Unlock()
	// With a HandoverStore, every room's members are stored first, while
	// this node still holds the rooms (the caller releases them after).
	handovers := make(map[string]RoomSettings)
	for _, rm := range rooms {
		rm.mu.Lock()
		if s, ok := r.handoverLocked(rm); ok {
			handovers[rm.slug] = s
		}
		rm.mu.Unlock()
	}
	r.storeHandovers(handovers)
	for _, rm := range rooms {
		rm.mu.Lock()
		rm.stopEmptyTimer()
		for _, mem := range slices.Clone(rm.order) {
			if mem.conns == 0 {
				r.removeMemberLocked(rm, mem, false)
			}
		}
		if len(rm.members) == 0 {
			r.destroyLocked(rm)
		}
		clients = append(clients, rm.clients...)
		rm.mu.Unlock()
	}
	for _, c := range clients {
		c.closeFor(EndShutdown, CloseServiceRestart, shutdownReason)
	}
}

// Stats counts what the registry holds, for metrics, tests and leak checks.
// Once every client has left and every grace period has run out, every
// field is zero again.
type Stats struct {
	Rooms       int // live user rooms; permanent rooms are not counted
	Members     int // members of all rooms, pending ones included
	Pending     int // members whose last connection closed, waiting out the grace period
	Connections int // joined connections (Clients not yet passed to Leave)
	Users       int // per-user records: connection sets, rate limiters, rooms created
	Sessions    int // session tags with at least one connection
}

// QueuedBytes is what waits to be written to every connection now, a
// frame queued to several connections counted for each.
func (r *Registry) QueuedBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, u := range r.users {
		n += u.queued.Load()
	}
	return n
}

// Stats counts rooms, members, connections and the per-user and
// per-session records the registry holds.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	s := Stats{Rooms: r.userRooms, Users: len(r.users), Sessions: len(r.sessions)}
	for _, u := range r.users {
		s.Connections += len(u.clients)
	}
	rooms := make([]*room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	r.mu.Unlock()
	for _, rm := range rooms {
		rm.mu.Lock()
		s.Members += len(rm.members)
		for _, mem := range rm.members {
			if mem.conns == 0 {
				s.Pending++
			}
		}
		rm.mu.Unlock()
	}
	return s
}

// isClosed reports whether Close was called.
func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// shutdownReason is the close reason Registry.Close sends.
const shutdownReason = "Server restarting."
