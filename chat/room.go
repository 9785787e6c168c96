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
	// snapshot is a function of it. snap is the snapshot rendered for
	// snapVer, shared by every joiner while the room does not change;
	// rendering is set while a joiner renders the snapshot of version
	// renderVer outside the lock, and closed when it is done.
	version   uint64
	snap      []byte
	snapVer   uint64
	rendering chan struct{}
	renderVer uint64

	// A room created by Ensure (or by a Join that then failed) with no
	// member yet dies after Grace unless someone joins; emptyGen makes a
	// timer that fires after a join do nothing.
	emptyTimer *time.Timer
	emptyGen   uint64
}

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
		// Nobody is connected: the cached snapshot would only hold
		// memory (up to HistoryBytes per room) until the next joiner.
		rm.snap = nil
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
}

// changed records a change of the history or the member list, which
// makes the cached snapshot stale. rm.mu must be held.
func (rm *room) changed() {
	rm.version++
	rm.snap = nil
}

// stopTimer cancels a pending grace-period removal.
func (mem *member) stopTimer() {
	if mem.timer != nil {
		mem.timer.Stop()
		mem.timer = nil
	}
	mem.gen++
}
