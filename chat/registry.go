package chat

import (
	"cmp"
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
	}
	reg.bufs.New = func() any { return new([]byte) }
	for _, slug := range reg.cfg.Permanent {
		rm := newRoom(slug, true, 0, &reg.cfg)
		reg.rooms[slug] = rm
		reg.permanent = append(reg.permanent, rm)
	}
	return reg
}

// Ensure makes sure room slug exists, creating it for creator (counted
// against MaxRooms and the creator's MaxRoomsPerUser) without joining it;
// the handler calls it when a user opens the room page, before the socket
// connects. A room that nobody joins is destroyed after Grace (with Grace
// zero, at once but asynchronously: Room may then report it missing).
func (r *Registry) Ensure(slug string, creator Member) error {
	rm, created, err := r.lookupOrCreate(slug, creator, false)
	if err != nil || !created {
		return err
	}
	rm.mu.Lock()
	r.armEmptyLocked(rm)
	rm.mu.Unlock()
	return nil
}

// lookupOrCreate returns room slug, creating it for creator if it does not
// exist. forJoin first checks the creator's connection cap, so a Join that
// is bound to fail creates nothing. A created room has no timer yet: the
// caller arms one (under the room lock) unless it joins the room.
func (r *Registry) lookupOrCreate(slug string, creator Member, forJoin bool) (rm *room, created bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	u := r.users[creator.ID]
	if forJoin && u != nil && len(u.clients) >= r.cfg.MaxConnsPerUser {
		return nil, false, ErrTooManyConnections
	}
	if rm := r.rooms[slug]; rm != nil {
		return rm, false, nil
	}
	if r.userRooms >= r.cfg.MaxRooms {
		return nil, false, ErrTooManyRooms
	}
	if u != nil && u.created >= r.cfg.MaxRoomsPerUser {
		return nil, false, ErrTooManyRoomsForUser
	}
	rm = newRoom(slug, false, creator.ID, &r.cfg)
	r.userLocked(creator.ID).created++
	r.userRooms++
	r.rooms[slug] = rm
	return rm, true, nil
}

// Join adds one connection for member m to room slug, creating the room if
// needed (with Ensure's caps). The check and the join are atomic: a room
// being destroyed is never joined; the joiner gets a fresh one. The
// returned Client has the Snapshot frame queued first. A member new to the
// room (or removed after the grace period) is announced to every
// connection, this one included, by a KindJoin notice and a MemberJoined
// frame; a second tab or a reconnect inside the grace period announces
// nothing and cancels the pending removal. session tags the connection for
// CloseSession and CloseUser. The caller must run c.WritePump and, when
// the connection ends, call Leave.
func (r *Registry) Join(slug string, m Member, session string) (*Client, error) {
	for {
		rm, created, err := r.lookupOrCreate(slug, m, true)
		if err != nil {
			return nil, err
		}
		rm.mu.Lock()
		snap, tail, ok := r.snapshotLocked(rm) // may unlock and lock again
		if !ok {
			rm.mu.Unlock()
			continue // its last member left meanwhile: look again
		}
		c, err := r.joinLocked(rm, m, session, snap, tail)
		if err != nil && created {
			r.armEmptyLocked(rm) // made for nothing: let it expire like Ensure's
		}
		rm.mu.Unlock()
		return c, err
	}
}

// Leave closes c (code 1000 unless it was closed already) and removes it
// from its room. It is idempotent, and safe after eviction or a failed
// write. When c was its member's last connection, the member is removed
// after Grace (a re-join cancels that) with a KindLeave notice and a
// MemberLeft frame; if no member remains the room is destroyed then (a
// permanent room only loses its history).
func (r *Registry) Leave(c *Client) {
	if c == nil {
		return
	}
	c.Close(CloseNormal, "")
	rm := c.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	r.leaveLocked(rm, c)
}

// Post appends a text message from m to room slug and queues its frame to
// every connection of the room. Errors: ErrClosed, ErrNoRoom, ErrNotMember
// (m has no connection in the room and is not inside the grace period) and
// ErrRateLimited (m's bucket, shared across their connections and rooms, is
// empty). text is stored as given. It returns the stored Message.
func (r *Registry) Post(slug string, m Member, text string) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return Message{}, ErrNoRoom
	}
	mem := rm.members[m.ID]
	if mem == nil {
		return Message{}, ErrNotMember
	}
	now := r.cfg.Now()
	if !mem.user.limiter.AllowN(now, 1) {
		return Message{}, ErrRateLimited
	}
	return r.record(rm, KindText, mem.Member, text, now), nil
}

// PostVisitor appends a text message from m to room slug like Post, but m
// need not be a member: it serves posting without a socket (a browser
// without JavaScript, a script). So that everyone sees who wrote, a poster
// who is not a member becomes one with no connection, as if inside the
// grace period: announced by the usual KindJoin notice and MemberJoined
// frame before the message, and removed (with a leave notice) one Grace
// after their last such post unless they connect meanwhile. m's bucket is
// the one of their connections if they have any, else a visitor bucket of
// the same size that their connections take over.
func (r *Registry) PostVisitor(slug string, m Member, text string) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	limiter := r.visitorLimiter(m.ID)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return Message{}, ErrNoRoom
	}
	now := r.cfg.Now()
	if !limiter.AllowN(now, 1) {
		return Message{}, ErrRateLimited
	}
	mem := rm.members[m.ID]
	if mem == nil {
		u, err := r.holdMembership(m.ID)
		if err != nil {
			return Message{}, err
		}
		rm.stopEmptyTimer()
		mem = rm.addMember(m, u)
		r.announceJoinLocked(rm, m)
	}
	msg := r.record(rm, KindText, mem.Member, text, now)
	if mem.conns == 0 {
		r.armGraceLocked(rm, mem) // restarted by each post
	}
	return msg, nil
}

// maxVisitors bounds the visitor buckets; past it they are all forgotten,
// which at worst grants a few visitors a fresh burst.
const maxVisitors = 10000

// visitorLimiter returns user id's message bucket: their connected one if
// they have connections, else a visitor bucket.
func (r *Registry) visitorLimiter(id int64) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[id]; u != nil {
		return u.limiter
	}
	l := r.visitors[id]
	if l == nil {
		if len(r.visitors) >= maxVisitors {
			clear(r.visitors)
		}
		l = rate.NewLimiter(rate.Limit(r.cfg.MessageRate), r.cfg.MessageBurst)
		r.visitors[id] = l
	}
	return l
}

// lookup returns room slug, or ErrClosed or ErrNoRoom.
func (r *Registry) lookup(slug string) (*room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if rm := r.rooms[slug]; rm != nil {
		return rm, nil
	}
	return nil, ErrNoRoom
}

// Room returns copies of room slug's history (oldest first) and members
// (in join order) for rendering the room page; ok is false if the room
// does not exist.
func (r *Registry) Room(slug string) (history []Message, members []Member, ok bool) {
	rm, err := r.lookup(slug)
	if err != nil {
		return nil, nil, false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return nil, nil, false
	}
	return rm.history.slice(), rm.memberList(), true
}

// Rooms lists the rooms for the lobby: the permanent ones first, in Config
// order, even when empty; then the live user rooms by slug.
func (r *Registry) Rooms() []RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RoomInfo, 0, len(r.rooms))
	for _, rm := range r.permanent {
		out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load()), Permanent: true})
	}
	n := len(out)
	for _, rm := range r.rooms {
		if !rm.permanent {
			out = append(out, RoomInfo{Slug: rm.slug, Members: int(rm.nmembers.Load())})
		}
	}
	slices.SortFunc(out[n:], func(a, b RoomInfo) int { return cmp.Compare(a.Slug, b.Slug) })
	return out
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

// Close shuts the registry down: every connection is closed with 1012
// (service restart) so browsers reconnect to the next process, and its
// WritePump returns after sending that frame; grace timers are stopped,
// members waiting out their grace period and rooms nobody joined are
// removed at once. Later Joins, Ensures and Posts get ErrClosed; Leave
// still works and removes members without notices, so once the handlers
// have called Leave for every client the registry is empty.
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
	r.mu.Unlock()
	var clients []*Client
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
