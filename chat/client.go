package chat

import (
	"sync"
	"time"
)

// Client is one websocket connection of a member in a room. The Registry
// queues frames to it; its writer (see Serve) writes them. Its methods are
// safe for concurrent use.
//
// The send queue is a slice guarded by a mutex plus a one-slot wake-up
// channel rather than a buffered channel of frames, so an idle connection
// costs a few hundred bytes, whatever QueueLimit is.
type Client struct {
	reg     *Registry
	room    *room
	member  Member
	session string
	// remote is set at creation on a connection another node serves
	// (JoinRemote): notices for its user reach it on that node.
	remote bool
	// link, set at creation on a remote connection that has one, carries
	// its frames to its node, where linkID names it (linked.go): it has
	// no queue here.
	link   Link
	linkID string

	// Guarded by room.mu.
	idx    int  // position in room.clients
	joined bool // counted in its room and the registry's indexes until Leave
	// linkGen and linkLast place the client's latest frame waiting in its
	// room's lock (roomLock.add).
	linkGen  uint64
	linkLast int

	// user is the user's registry record, set by admit before the first
	// frame is queued; its queued counter holds the bytes of all the
	// user's connections.
	user *user

	mu     sync.Mutex
	queue  [][]byte
	held   int // bytes queued plus the bytes of the message being written
	closed bool
	code   int // close code the writer sends; 0: none (the socket failed)
	reason string
	cause  string // why the client closed (an End... constant), for the log
	// evictedAt is when the client was evicted: its close frame must be
	// out within WriteWait of it, or the connection ends without one.
	evictedAt time.Time

	// wake (capacity 1: the queue may be non-empty) is made by writePump,
	// the writer of a connection that has a goroutine of its own; a
	// connection written by the registry's writers (see pool.go) has
	// none, and state says where it is in that pool instead.
	wake chan struct{}
	done chan struct{} // closed when the client closes

	// Guarded by mu: the pool's side of the connection (pool.go).
	direct    DirectSocket    // set by Serve when the pool writes this connection
	state     writeState      // where the connection is in the pool
	pingDue   bool            // a ping is to be written
	pong      []byte          // a pong's payload is to be written (pongDue)
	pongDue   bool            //
	writerEnd func(sent bool) // called once when the pool is done with the connection
	wheelAt   int             // position in the ping wheel's slot, -1 when not in it
	wheelSlot int             // the ping wheel's slot
	lastWrite time.Time       // when the pool last took frames to write
}

// enqueueResult says what enqueue did with a frame.
type enqueueResult uint8

const (
	queued   enqueueResult = iota
	dropped                // the client was already closed
	evicted                // the queue was full: the client is now closed with 1013
	userFull               // not queued: the user's connections hold UserQueueBytes
)

// maxSpare is the largest queue capacity a writer keeps for reuse: enough
// for steady traffic, small enough that an idle connection holds little.
const maxSpare = 8

// evictReason is the close reason sent to a connection whose queue filled.
const evictReason = "Too slow; reconnect to catch up."

func newClient(r *Registry, rm *room, m Member, session string) *Client {
	return &Client{
		reg:     r,
		room:    rm,
		member:  m,
		session: session,
		done:    make(chan struct{}),
		wheelAt: -1,
	}
}

// Room returns the slug of the client's room.
func (c *Client) Room() string { return c.room.slug }

// Member returns the member this connection belongs to.
func (c *Client) Member() Member { return c.member }

// Done returns a channel closed when the client is closed for any reason:
// Close, eviction, a failed write, Leave or registry shutdown.
func (c *Client) Done() <-chan struct{} { return c.done }

// Send queues a frame for this connection only (an error fragment, say).
// It never blocks. It returns false if the client is closed, or if the
// frame overflowed the queue: then the client is evicted, closed with 1013
// and removed from its room. A linked connection (JoinRemote) has no
// queue here: the frame goes to its link at once.
func (c *Client) Send(frame []byte) bool {
	if c.link != nil {
		// Its node queues it (and evicts there).
		if c.isClosed() {
			return false
		}
		c.link.Deliver(frame, []string{c.linkID})
		return true
	}
	switch c.reg.enqueue(c, frame) {
	case queued:
		return true
	case evicted:
		c.reg.Leave(c)
	}
	return false
}

// Close asks the writer to send a close frame with code and reason and
// stop; code 0 stops it without a close frame. Frames still queued are
// dropped. Only the first close counts; the client stays in its room until
// Registry.Leave (which Serve calls once its reader stops).
func (c *Client) Close(code int, reason string) {
	c.closeFor("", code, reason)
}

// closeFor is Close that records cause as the reason the client ended.
func (c *Client) closeFor(cause string, code int, reason string) {
	c.mu.Lock()
	c.closeLocked(cause, code, reason)
	c.mu.Unlock()
}

// Cause returns why the client was closed, if the registry or its writer
// closed it: one of the End... constants. It is "" while the client is
// open and when it was closed by Close (its caller knows why then).
func (c *Client) Cause() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// closeLocked closes the client if it is open and releases the bytes it
// held. c.mu must be held.
func (c *Client) closeLocked(cause string, code int, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.cause, c.code, c.reason = cause, code, reason
	c.queue = nil
	if c.user != nil {
		c.user.queued.Add(-int64(c.held))
	}
	c.held = 0
	close(c.done)
	c.scheduleLocked(false) // the pool writes the close frame
}

// evictLocked closes the client as too slow: nothing more is queued or
// written to it but its close frame (1013), which must be out within
// WriteWait. A writer stuck in a write (the peer's window is full) is
// not cut off mid-message, which would leave the peer only a broken
// connection (1006): a peer that reads again within that write's own
// deadline gets the rest of the message and then the 1013 it can
// reconnect on; one that does not is dropped at that deadline, without a
// close frame. c.mu must be held.
func (c *Client) evictLocked(why string) {
	if !c.closed {
		c.reg.count.evicted(why)
		c.evictedAt = time.Now()
	}
	c.closeLocked(EndEvicted, CloseTryAgainLater, evictReason)
}

// enqueue queues frame to c (see Client.enqueue). If the user's
// connections together would pass UserQueueBytes, the one of them that
// holds the most is evicted (the hog, typically a tab that stopped
// reading, not the healthy tab that happens to receive the frame), and
// the frame is tried once more. The caller may hold c's room lock, not
// the registry's; for a linked connection it must hold it (the frame
// waits in it, see linked.go).
func (r *Registry) enqueue(c *Client, frame []byte) enqueueResult {
	if c.link != nil {
		if c.isClosed() {
			return dropped
		}
		c.room.mu.add(c, frame)
		return queued
	}
	lazy := c.room.lazyFanout.Load() // presence in a big room: see presenceLocked
	res := c.enqueueAs(frame, lazy)
	if res != userFull {
		return res
	}
	r.evictHog(c.user)
	if res = c.enqueueAs(frame, lazy); res == userFull {
		c.mu.Lock()
		c.evictLocked(evictUserBytes) // it held the most, or the hog would not go
		c.mu.Unlock()
		res = evicted
	}
	return res
}

// evictHog evicts the connection of u that holds the most bytes. Its
// Serve then calls Leave, which takes it out of its room.
func (r *Registry) evictHog(u *user) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var hog *Client
	most := -1
	for _, c := range u.clients {
		c.mu.Lock()
		if !c.closed && c.held > most {
			hog, most = c, c.held
		}
		c.mu.Unlock()
	}
	if hog != nil {
		hog.mu.Lock()
		hog.evictLocked(evictUserBytes)
		hog.mu.Unlock()
	}
}

// enqueue appends frame to the queue, evicting the client if the queue
// already holds QueueLimit frames, or if the frame would make the bytes
// held for the client pass QueueBytes (a frame alone is always taken).
// If the frame would make the bytes of the user's connections pass
// UserQueueBytes it returns userFull and queues nothing (unless the user
// holds nothing else). It never blocks.
func (c *Client) enqueue(frame []byte) enqueueResult { return c.enqueueAs(frame, false) }

// enqueueAs is enqueue; lazy lets a connection written by the pool wait
// up to PresenceInterval for more frames before it is written.
func (c *Client) enqueueAs(frame []byte, lazy bool) enqueueResult {
	cfg := &c.reg.cfg
	size := len(frame)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return dropped
	}
	over := len(c.queue) >= cfg.QueueLimit || (c.held > 0 && c.held+size > cfg.QueueBytes)
	if !over && c.user != nil {
		if n := c.user.queued.Add(int64(size)); n > int64(size) && n > int64(cfg.UserQueueBytes) {
			c.user.queued.Add(-int64(size))
			c.mu.Unlock()
			return userFull
		}
	}
	if over {
		why := evictBytes
		if len(c.queue) >= cfg.QueueLimit {
			why = evictFrames
		}
		c.evictLocked(why)
		c.mu.Unlock()
		return evicted
	}
	c.held += size
	c.queue = append(c.queue, frame)
	wake := c.wake
	c.scheduleLocked(lazy)
	c.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return queued
}

// take hands the queued frames to the writer, giving the queue the
// writer's emptied spare slice in exchange, so a steady stream of frames
// allocates nothing. It reports whether the client is closed instead.
func (c *Client) take(spare [][]byte) (frames [][]byte, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return spare, true
	}
	frames, c.queue = c.queue, spare[:0]
	return frames, false
}

// beginWrite reports whether the writer may write another message: not
// once the client is closed.
func (c *Client) beginWrite() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

// endWrite marks the write finished and releases the n bytes it wrote.
func (c *Client) endWrite(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return // closeLocked released everything
	}
	c.held -= n
	if c.user != nil {
		c.user.queued.Add(-int64(n))
	}
}

// shrink drops the queue's and the writer's spare slices if a burst made
// them big, so an idle connection does not keep a burst's memory.
func (c *Client) shrink(spare [][]byte) [][]byte {
	c.mu.Lock()
	if len(c.queue) == 0 && cap(c.queue) > maxSpare {
		c.queue = nil
	}
	c.mu.Unlock()
	if cap(spare) > maxSpare {
		return nil
	}
	return spare
}

// closeFrame returns the code and reason the writer must send; code 0
// means send nothing.
func (c *Client) closeFrame() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason
}

// closeDeadline is when the close frame must be out: WriteWait after an
// eviction, else WriteWait from now.
func (c *Client) closeDeadline() time.Time {
	c.mu.Lock()
	at := c.evictedAt
	c.mu.Unlock()
	if at.IsZero() {
		at = time.Now()
	}
	return at.Add(c.reg.cfg.WriteWait)
}
