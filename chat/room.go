package chat

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// room is one chat room. Its mutex is held while an event is numbered,
// rendered and queued to every client, which is what gives every member
// the room's frames in one order.
type room struct {
	slug      string
	permanent bool
	creator   int64 // counted against this user's MaxRoomsPerUser; unused if permanent
	// nmembers mirrors len(members) so the lobby can read it without
	// taking the room lock.
	nmembers atomic.Int32

	mu      sync.Mutex
	dead    bool // destroyed: out of the registry; a joiner must look again
	seq     uint64
	history ring
	members map[int64]*member
	order   []*member // members in join order: the member list of every view
	clients []*Client // joined connections; Client.idx is the position

	// version counts changes of the history and the member list: the
	// snapshot is a function of it. snap is the snapshot rendered at
	// version snapVer, shared by every joiner while deltas can bring it
	// up to date; rendering is set while a joiner renders a snapshot
	// outside the lock, and closed when it is done.
	version   uint64
	snap      []byte
	snapVer   uint64
	rendering chan struct{}
	// deltas are the last frames fanned out (at most maxDeltas, and
	// maxDeltaBytes), each with the version it left the room at; applied
	// in order to a view of version deltaBase, they give the view of the
	// last one's version.
	deltas     []delta
	deltaBytes int
	deltaBase  uint64

	// A room created by Ensure (or by a Join that then failed) with no
	// member yet dies after Grace unless someone joins; emptyGen makes a
	// timer that fires after a join do nothing.
	emptyTimer *time.Timer
	emptyGen   uint64
}

// delta is a frame fanned out to a room and the room's version after it.
type delta struct {
	ver   uint64
	frame []byte
}

// The delta log's bounds: a joiner gets at most this much after the
// shared snapshot; past it, the snapshot is rendered again.
const (
	maxDeltas     = 32
	maxDeltaBytes = 64 << 10
)

// member is a user in a room, with its connection count in that room.
type member struct {
	Member
	user  *user // the user's registry record; it outlives every member of that user
	conns int
	// While conns is 0 the member waits out the grace period: timer
	// removes it unless gen changed (a re-join bumps gen).
	timer *time.Timer
	gen   uint64
}

func newRoom(slug string, permanent bool, creator int64, cfg *Config) *room {
	return &room{
		slug:      slug,
		permanent: permanent,
		creator:   creator,
		history:   ring{limit: cfg.History, maxBytes: cfg.HistoryBytes},
		members:   make(map[int64]*member),
	}
}

// memberList returns the members in join order. rm.mu must be held.
func (rm *room) memberList() []Member {
	out := make([]Member, len(rm.order))
	for i, mem := range rm.order {
		out[i] = mem.Member
	}
	return out
}

// addMember makes m a member. rm.mu must be held.
func (rm *room) addMember(m Member, u *user) *member {
	mem := &member{Member: m, user: u}
	rm.members[m.ID] = mem
	rm.order = append(rm.order, mem)
	rm.nmembers.Store(int32(len(rm.members)))
	rm.changed()
	return mem
}

// deleteMember forgets mem. rm.mu must be held.
func (rm *room) deleteMember(mem *member) {
	mem.stopTimer()
	delete(rm.members, mem.ID)
	if i := slices.Index(rm.order, mem); i >= 0 {
		rm.order = slices.Delete(rm.order, i, i+1)
	}
	rm.nmembers.Store(int32(len(rm.members)))
	rm.changed()
}

// addClient and removeClient keep rm.clients a dense slice, so fan-out is
// a plain loop. rm.mu must be held.
func (rm *room) addClient(c *Client) {
	c.idx = len(rm.clients)
	c.joined = true
	rm.clients = append(rm.clients, c)
}

func (rm *room) removeClient(c *Client) {
	last := len(rm.clients) - 1
	moved := rm.clients[last]
	rm.clients[c.idx] = moved
	moved.idx = c.idx
	rm.clients[last] = nil
	rm.clients = rm.clients[:last]
	c.joined = false
	if len(rm.clients) == 0 {
		rm.clients = nil // a room that was busy gives its slice back
		// Nobody is connected: the cached snapshot and the delta log
		// would only hold memory (up to HistoryBytes per room) until the
		// next joiner.
		rm.snap = nil
		rm.resetDeltas()
	}
}

// stopEmptyTimer cancels the never-joined timer. rm.mu must be held.
func (rm *room) stopEmptyTimer() {
	if rm.emptyTimer != nil {
		rm.emptyTimer.Stop()
		rm.emptyTimer = nil
	}
	rm.emptyGen++
}

// resetHistory drops a permanent room's history and restarts its
// numbering. rm.mu must be held.
func (rm *room) resetHistory() {
	rm.history.reset()
	rm.seq = 0
	rm.changed()
	rm.resetDeltas()
}

// changed records a change of the history or the member list. Every
// change is followed by a fan-out (logDelta) that tells it, or by
// resetDeltas. rm.mu must be held.
func (rm *room) changed() {
	rm.version++
}

// logDelta records frame, just fanned out, as the delta to the current
// version. rm.mu must be held.
func (rm *room) logDelta(frame []byte) {
	rm.deltas = append(rm.deltas, delta{rm.version, frame})
	rm.deltaBytes += len(frame)
	for len(rm.deltas) > maxDeltas || (rm.deltaBytes > maxDeltaBytes && len(rm.deltas) > 0) {
		rm.deltaBase = rm.deltas[0].ver
		rm.deltaBytes -= len(rm.deltas[0].frame)
		rm.deltas[0] = delta{} // don't pin the frame
		rm.deltas = rm.deltas[1:]
	}
}

// resetDeltas empties the delta log after a change that no frame tells
// (or to free it): only a view of the current version is up to date.
// rm.mu must be held.
func (rm *room) resetDeltas() {
	rm.deltas, rm.deltaBytes, rm.deltaBase = nil, 0, rm.version
}

// deltasSince returns the frames that bring a view of version ver (a
// snapshot) up to the current version, and whether the log holds them.
// rm.mu must be held.
func (rm *room) deltasSince(ver uint64) ([][]byte, bool) {
	if ver == rm.version {
		return nil, true
	}
	n := len(rm.deltas)
	if ver < rm.deltaBase || n == 0 || rm.deltas[n-1].ver != rm.version {
		return nil, false // too old, or a change not told (yet)
	}
	i := 0
	for i < n && rm.deltas[i].ver <= ver {
		i++
	}
	// ver must be a version the log passes through, not one inside an
	// event (between its changes and its fan-out).
	if ver != rm.deltaBase && (i == 0 || rm.deltas[i-1].ver != ver) {
		return nil, false
	}
	tail := make([][]byte, 0, n-i)
	for _, d := range rm.deltas[i:] {
		tail = append(tail, d.frame)
	}
	return tail, true
}

// stopTimer cancels a pending grace-period removal.
func (mem *member) stopTimer() {
	if mem.timer != nil {
		mem.timer.Stop()
		mem.timer = nil
	}
	mem.gen++
}
