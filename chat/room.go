package chat

import (
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
	// private is set at creation and never changes: only the users in
	// access.allowed may see or enter the room (see private.go).
	private bool
	// nmembers mirrors len(members) so the lobby can read it without
	// taking the room lock.
	nmembers atomic.Int32
	// removals is set while access.removed holds someone, so the lobby
	// lists a public room without its lock unless it must check.
	removals atomic.Bool
	// lazyFanout is set (under mu) while presence frames of a big room
	// are fanned out: they may wait for company (presenceLocked).
	lazyFanout atomic.Bool
	// relay is set on the room of one relayed connection (Relay): it is
	// in no index of the registry and has no member.
	relay bool
	// dropping is set (under mu) while Drop empties the room: what the
	// Store holds of it stays for the node that holds it now.
	dropping bool

	mu      roomLock // a mutex; see linked.go
	dead    bool     // destroyed: out of the registry; a joiner must look again
	seq     uint64
	history ring
	members map[int64]*member
	order   []*member   // members in join order: the member list of every view
	clients []*Client   // joined connections; Client.idx is the position
	access  access      // who may enter; see private.go
	typing  typingState // who is typing; see typing.go

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

func newRoom(slug string, permanent bool, creator int64, cfg *Config) *room {
	return &room{
		slug:      slug,
		permanent: permanent,
		creator:   creator,
		history:   ring{limit: cfg.History, maxBytes: cfg.HistoryBytes},
		members:   make(map[int64]*member),
	}
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
