package chat

import "sync"

// Linked connections: with several nodes (docs/shared-rooms.md), the
// connections that another node serves (JoinRemote) reach that node
// through a Link, one per node, rather than each through a queue and a
// writer of its own. A frame that a room fans out to several of them is
// handed to their link once, with the names of the connections it is for,
// and travels to their node once; that node queues it to its browsers,
// whose queue limits (and evictions) apply there. Per-viewer frames (a
// typer's own typing line, a joiner's snapshot, an error for one
// connection) are handed over with the few connections they are for.
//
// The room's fan-out queues a frame to each connection in turn under the
// room's lock (enqueue); for a linked connection the frame waits in the
// lock itself (roomLock), grouped with the same frame for the other
// connections of its link, and Unlock hands the groups to their links
// before it unlocks, in the order they were made. So each link gets a
// room's frames in the room's order, and each connection its own frames
// in the order they were queued to it, as on one node.

// Link carries frames, in the order it is given them, to connections that
// one other node serves. Deliver is called with a room's lock held, or
// from Client.Send (a frame for one connection): it must not block, nor
// call back into the Registry, and may be called from several goroutines
// at once. Links are compared with == (a pointer is one).
type Link interface {
	// Deliver sends frame to the connections named conns (the names
	// JoinRemote was given), after every frame delivered before it. The
	// link may keep conns; frame is shared and must not be modified.
	Deliver(frame []byte, conns []string)
}

// roomLock is a room's mutex, which also holds the frames queued under
// it for linked connections until Unlock. With no linked connection it is
// a plain mutex.
type roomLock struct {
	sync.Mutex
	pending []linkedFrame
	// gen counts the flushes: a client whose linkGen is gen+1 has a frame
	// in pending, at index linkLast.
	gen uint64
}

// linkedFrame is one frame for some connections of one link.
type linkedFrame struct {
	link  Link
	frame []byte
	conns []string
}

// Unlock hands the frames queued under the lock to their links, then
// unlocks.
func (l *roomLock) Unlock() {
	if len(l.pending) > 0 {
		l.flush()
	}
	l.Mutex.Unlock()
}

func (l *roomLock) flush() {
	for _, p := range l.pending {
		p.link.Deliver(p.frame, p.conns)
	}
	clear(l.pending)
	l.pending = l.pending[:0]
	l.gen++
}

// add queues frame for linked client c: with the same frame for other
// connections of c's link, unless c has a frame queued after that one
// (then it would come out of order), else on its own. The lock must be
// held.
func (l *roomLock) add(c *Client, frame []byte) {
	last := -1 // c's latest frame in pending
	if c.linkGen == l.gen+1 {
		last = c.linkLast
	}
	for i := len(l.pending) - 1; i > last; i-- {
		if p := &l.pending[i]; p.link == c.link && sameFrame(p.frame, frame) {
			p.conns = append(p.conns, c.linkID)
			c.linkGen, c.linkLast = l.gen+1, i
			return
		}
	}
	l.pending = append(l.pending, linkedFrame{link: c.link, frame: frame, conns: []string{c.linkID}})
	c.linkGen, c.linkLast = l.gen+1, len(l.pending)-1
}

// sameFrame reports whether a and b are the same bytes in memory: a frame
// the room fans out is one slice shared by every connection.
func sameFrame(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
