package chat

import (
	"runtime"
	"slices"
	"sync"
	"time"
)

// The registry's writers: a connection whose Socket is a DirectSocket has
// no writer goroutine of its own. When frames are queued to it, it is put
// on a run queue that a few writer goroutines (at most writersPerCPU per
// CPU, started when there is work and ended when there is none) empty:
// each takes a connection, frames what is queued to it as websocket
// messages in its buffer and writes that with one non-blocking write per
// 64 KB or so, at most once per WriteInterval. A connection whose peer's
// window is full (the write takes only part) gets a goroutine of its own
// until that is written, with a WriteWait deadline, so a stalled reader
// never holds a pool writer; it is evicted by its queue limits as
// before. Pings come from one timer per registry (pingWheel), not a
// timer per connection. An idle connection therefore costs its reader
// goroutine and a few hundred bytes.

// DirectSocket is a Socket that chat may write websocket bytes to itself
// (frames it builds), so that its registry's writers can write it without
// a goroutine of its own. Every write to the connection must go through
// these two methods once Serve has started.
type DirectSocket interface {
	Socket
	// TryWrite writes as much of b as the connection takes now, without
	// waiting: n < len(b) with a nil error means the peer's window is
	// full.
	TryWrite(b []byte) (n int, err error)
	// WriteAll writes all of b, waiting at most until deadline.
	WriteAll(b []byte, deadline time.Time) error
}

// PongMessage is the websocket pong's message type.
const PongMessage = 10

// writeState is where a pooled connection is in the pool.
type writeState uint8

const (
	stIdle    writeState = iota // nothing to write
	stDelayed                   // frames wait in the delay list (lazy)
	stSoon                      // waits in the soon list (written lately)
	stQueued                    // on the run queue, or being written
	stSlow                      // its own goroutine is finishing a write
	stDone                      // the pool ended it: nothing more is written
)

// writersPerCPU bounds the pool's writer goroutines. Writes never block
// them, so a few per CPU keep every CPU busy.
const writersPerCPU = 2

// WriteInterval is the least time between two writes to one pooled
// connection: frames that come sooner wait for the rest of it, so that a
// busy room's member gets a few messages per write (a write costs about
// as much as the bytes it carries, most of it in the system call), and
// an idle one waits for nothing.
const WriteInterval = 10 * time.Millisecond

// PresenceInterval is how long presence frames (join and leave notices
// and member-list changes) may wait for company in a big room (see
// presenceLocked, members.go): in a join storm every connection gets them
// in one message per interval instead of one per join.
const PresenceInterval = 250 * time.Millisecond

// writerPool is the registry's run queue and writer goroutines.
type writerPool struct {
	reg     *Registry
	mu      sync.Mutex
	queue   []*Client
	head    int
	running int
	max     int

	free []*scratch // writers' buffers, kept (a sync.Pool loses them to every GC)

	// delayed holds lazily scheduled connections until its timer
	// (started when the first comes) runs them.
	delayed  []*Client
	delaying bool
	// soonList holds connections written less than WriteInterval ago.
	soonList []*Client
	sooning  bool
}

func newWriterPool(r *Registry) *writerPool {
	return &writerPool{reg: r, max: writersPerCPU * max(1, runtime.GOMAXPROCS(0))}
}

// scheduleLocked puts a pooled connection on the run queue, or in the
// soon list if it was written less than WriteInterval ago, or (lazy) in
// the delay list, unless it is on its way already or its writing is in
// hand. c.mu must be held.
func (c *Client) scheduleLocked(lazy bool) {
	if c.direct == nil {
		return
	}
	switch c.state {
	case stIdle:
		if lazy {
			c.state = stDelayed
			c.reg.pool.delay(c)
			return
		}
	case stDelayed:
		if lazy {
			return
		}
	default:
		return
	}
	if !c.lastWrite.IsZero() && time.Since(c.lastWrite) < WriteInterval && !c.closed {
		c.state = stSoon
		c.reg.pool.soon(c)
		return
	}
	c.state = stQueued
	c.reg.pool.run(c)
}

// run appends c to the run queue, starting a writer if fewer than max run.
func (p *writerPool) run(c *Client) {
	p.mu.Lock()
	if p.head > 0 && p.head >= len(p.queue)/2 {
		// Writers drain from the head while posters append: move the
		// rest down rather than let the slice grow.
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	p.queue = append(p.queue, c)
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// work writes queued connections until the run queue is empty.
func (p *writerPool) work() {
	w := p.getScratch()
	defer p.putScratch(w)
	for {
		p.mu.Lock()
		if p.head == len(p.queue) {
			clear(p.queue[:cap(p.queue)])
			p.queue, p.head = p.queue[:0], 0
			if cap(p.queue) > 4096 {
				p.queue = nil // a burst's memory goes back
			}
			p.running--
			p.mu.Unlock()
			return
		}
		c := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		p.mu.Unlock()
		c.flush(w)
	}
}

// scratch is a writer's buffers, kept between connections and writers.
type scratch struct {
	buf    []byte
	bounds []int
}

func (p *writerPool) getScratch() *scratch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		w := p.free[n-1]
		p.free = p.free[:n-1]
		return w
	}
	return new(scratch)
}

func (p *writerPool) putScratch(w *scratch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.max {
		p.free = append(p.free, w)
	}
}

// delay adds c to the delay list, which is run every PresenceInterval.
func (p *writerPool) delay(c *Client) {
	p.mu.Lock()
	p.delayed = append(p.delayed, c)
	start := !p.delaying
	p.delaying = true
	p.mu.Unlock()
	if start {
		time.AfterFunc(PresenceInterval, p.runDelayed)
	}
}

// soon adds c to the soon list, which is run WriteInterval after its
// first connection came.
func (p *writerPool) soon(c *Client) {
	p.mu.Lock()
	p.soonList = append(p.soonList, c)
	start := !p.sooning
	p.sooning = true
	p.mu.Unlock()
	if start {
		time.AfterFunc(WriteInterval, p.runSoon)
	}
}

// runSoon moves the connections of the soon list to the run queue.
func (p *writerPool) runSoon() {
	p.mu.Lock()
	list := p.soonList
	p.soonList = nil
	p.sooning = false
	p.mu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		if c.state == stSoon {
			c.state = stQueued
			c.reg.pool.run(c)
		}
		c.mu.Unlock()
	}
}

// runDelayed moves the delayed connections to the run queue.
func (p *writerPool) runDelayed() {
	p.mu.Lock()
	list := p.delayed
	p.delayed = nil
	p.delaying = false
	p.mu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		if c.state == stDelayed {
			c.state = stIdle
			c.scheduleLocked(false)
		}
		c.mu.Unlock()
	}
}

// attachDirect makes the pool c's writer from now on: it writes what is
// queued already and pings every PingPeriod; end is called once, from a
// writer, when the connection is finished (the close frame written or
// abandoned).
func (r *Registry) attachDirect(c *Client, s DirectSocket, end func(closeSent bool)) {
	r.wheel.add(c)
	c.mu.Lock()
	c.direct = s
	c.writerEnd = end
	c.state = stIdle
	if len(c.queue) > 0 || c.closed {
		c.scheduleLocked(false)
	}
	c.mu.Unlock()
}

// Pong has the connection's writer answer a ping with payload (the last
// ping's, if several came before it could). The handler's Socket calls it
// from its reader.
func (c *Client) Pong(payload []byte) {
	c.mu.Lock()
	c.pong, c.pongDue = append(c.pong[:0], payload...), true
	wake := c.wake
	c.scheduleLocked(false)
	c.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// takePong returns the pong to write, if one is due.
func (c *Client) takePong() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pongDue {
		return nil, false
	}
	c.pongDue = false
	return append([]byte(nil), c.pong...), true
}

// flush writes everything due on c, as a pool writer: control frames,
// then the queued frames as text messages of at most MaxWrite bytes, with
// one non-blocking write per MaxWrite or so, until nothing is due. If the
// peer takes only part, the rest goes to a goroutine of c's own
// (slowWrite), the frames not yet written back to the queue's head, and
// flush returns. w holds the writer's buffers.
func (c *Client) flush(w *scratch) {
	var spare [][]byte // the last round's queue slice, emptied
	rounds := 0
	for {
		c.mu.Lock()
		if c.state != stQueued {
			c.mu.Unlock()
			return
		}
		if c.closed {
			c.mu.Unlock()
			c.finishDirect(w.buf, true)
			return
		}
		frames := c.queue
		if len(frames) == 0 && !c.pingDue && !c.pongDue {
			c.queue = nil // an idle connection keeps no slice
			c.state = stIdle
			c.mu.Unlock()
			return
		}
		if spare != nil || rounds > 0 {
			// More came while writing: it waits for the rest of
			// WriteInterval, with whatever else comes meanwhile.
			c.state = stIdle
			c.scheduleLocked(false)
			c.mu.Unlock()
			return
		}
		rounds++
		c.lastWrite = time.Now()
		ping, pongDue := c.pingDue, c.pongDue
		c.pingDue, c.pongDue = false, false
		c.queue = spare
		buf, bounds := w.buf[:0], w.bounds[:0]
		if ping {
			buf = appendFrame(buf, PingMessage, nil)
		}
		if pongDue {
			buf = appendFrame(buf, PongMessage, c.pong)
		}
		c.mu.Unlock()
		if len(buf) > 0 {
			bounds = append(bounds, len(buf))
		}
		payload := 0
		for i := 0; i < len(frames) || len(buf) > 0; {
			if i < len(frames) {
				j, n := i+1, len(frames[i])
				for j < len(frames) && n+len(frames[j]) <= MaxWrite {
					n += len(frames[j])
					j++
				}
				buf = appendHeader(buf, TextMessage, n)
				for _, f := range frames[i:j] {
					buf = append(buf, f...)
				}
				bounds = append(bounds, len(buf))
				payload += n
				i = j
				if i < len(frames) && len(buf) < MaxWrite/2 {
					continue // room for another message in this write
				}
			}
			n, err := c.direct.TryWrite(buf)
			if err != nil {
				w.buf, w.bounds = buf, bounds
				c.fail(err)
				c.finishDirect(buf, false)
				return
			}
			if n < len(buf) {
				rest := frames[i:]
				c.mu.Lock()
				c.state = stSlow
				if !c.closed && len(rest) > 0 {
					c.queue = append(slices.Clip(rest), c.queue...)
				}
				c.mu.Unlock()
				w.buf, w.bounds = nil, nil // the slow writer's now
				go c.slowWrite(buf, n, bounds, payload)
				return
			}
			c.endWrite(payload)
			buf, bounds, payload = buf[:0], bounds[:0], 0
		}
		w.buf, w.bounds = buf, bounds
		clear(frames) // don't pin sent frames
		spare = nil
		if cap(frames) <= maxSpare {
			spare = frames[:0]
		}
	}
}

// slowWrite finishes a write the peer took only part of, with a WriteWait
// deadline for each message: a peer that reads again gets the rest of the
// message in flight even if it was evicted meanwhile (its 1013 follows);
// one that does not is dropped at that deadline. The client closing stops
// it between two messages. bounds are the offsets in buf where messages
// (and the control frames before them) end. It then hands the connection
// back to the pool's flush.
func (c *Client) slowWrite(buf []byte, done int, bounds []int, payload int) {
	for _, end := range bounds {
		if end <= done {
			continue
		}
		if slices.Contains(bounds, done) && c.isClosed() {
			break // closed between two messages: stop there
		}
		if err := c.direct.WriteAll(buf[done:end], time.Now().Add(c.reg.cfg.WriteWait)); err != nil {
			c.fail(err)
			c.finishDirect(nil, false)
			return
		}
		done = end
	}
	c.endWrite(payload)
	c.mu.Lock()
	c.state = stQueued // flush again: more may be due, or the close frame
	c.mu.Unlock()
	w := c.reg.pool.getScratch()
	c.flush(w)
	c.reg.pool.putScratch(w)
}

// isClosed reports whether the client is closed.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// finishDirect ends a pooled connection: unless a write failed (tryClose
// false), it writes the client's close frame, if it has one, within
// closeDeadline (the part a full window does not take now in a goroutine
// of its own); then it tells Serve whether the frame went out. buf may
// be reused for the close frame.
func (c *Client) finishDirect(buf []byte, tryClose bool) {
	c.mu.Lock()
	if c.state == stDone {
		c.mu.Unlock()
		return
	}
	c.state = stDone
	code, reason := c.code, c.reason
	end := c.writerEnd
	c.mu.Unlock()
	c.reg.wheel.remove(c)
	sent := false
	if code != 0 && tryClose {
		frame := appendFrame(buf[:0], CloseMessage, closePayload(code, reason))
		n, err := c.direct.TryWrite(frame)
		if err == nil && n < len(frame) {
			// The peer's window is full: the rest waits for it in a
			// goroutine of its own (as slowWrite's do), never in a pool
			// writer, which the other connections need meanwhile.
			rest, deadline := slices.Clone(frame[n:]), c.closeDeadline()
			go func() { end(c.direct.WriteAll(rest, deadline) == nil) }()
			return
		}
		sent = err == nil
	}
	end(sent)
}

// appendHeader appends the header of an unmasked, final websocket frame
// of type op and n bytes of payload (a server's frames are not masked).
func appendHeader(b []byte, op int, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	}
	return append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendFrame appends a whole frame of type op.
func appendFrame(b []byte, op int, payload []byte) []byte {
	return append(appendHeader(b, op, len(payload)), payload...)
}

// pingWheel pings every pooled connection once per PingPeriod from one
// timer: connections sit in wheelSlots slots, and each tick (PingPeriod
// / wheelSlots) pings one slot's. The timer runs while any connection is
// in the wheel.
type pingWheel struct {
	reg   *Registry
	mu    sync.Mutex
	slots [wheelSlots][]*Client
	cur   int // the slot the last tick pinged; new connections go there
	n     int
	timer *time.Timer // nil while the wheel is empty
	gen   uint64      // makes a tick of a stopped timer do nothing
}

const wheelSlots = 16

// every is the wheel's tick.
func (w *pingWheel) every() time.Duration {
	return max(w.reg.cfg.PingPeriod/wheelSlots, 100*time.Microsecond)
}

// add puts c in the wheel: its first ping comes about PingPeriod later.
func (w *pingWheel) add(c *Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.cur
	c.wheelSlot, c.wheelAt = s, len(w.slots[s])
	w.slots[s] = append(w.slots[s], c)
	w.n++
	if w.timer == nil {
		w.gen++
		gen := w.gen
		w.timer = time.AfterFunc(w.every(), func() { w.tick(gen) })
	}
}

// remove takes c out of the wheel, if it is in.
func (w *pingWheel) remove(c *Client) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.wheelAt < 0 {
		return
	}
	slot := w.slots[c.wheelSlot]
	last := len(slot) - 1
	moved := slot[last]
	slot[c.wheelAt] = moved
	moved.wheelAt = c.wheelAt
	slot[last] = nil
	w.slots[c.wheelSlot] = slot[:last]
	if last == 0 {
		w.slots[c.wheelSlot] = nil
	}
	c.wheelAt = -1
	w.n--
	if w.n == 0 && w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// tick pings the next slot's connections.
func (w *pingWheel) tick(gen uint64) {
	w.mu.Lock()
	if gen != w.gen || w.timer == nil {
		w.mu.Unlock()
		return
	}
	w.cur = (w.cur + 1) % wheelSlots
	due := slices.Clone(w.slots[w.cur])
	w.timer.Reset(w.every())
	w.mu.Unlock()
	for _, c := range due {
		c.mu.Lock()
		if !c.closed {
			c.pingDue = true
			c.scheduleLocked(false)
		}
		c.mu.Unlock()
	}
}
