package chat

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// directSocket is a DirectSocket over an in-memory byte stream: TryWrite
// takes at most room bytes (-1: all), WriteAll waits until the test
// gives room (or the deadline passes), and the reader side is a
// readSocket's.
type directSocket struct {
	*readSocket
	mu     sync.Mutex
	out    []byte
	room   int // bytes TryWrite may still take; -1: unlimited
	tries  int // TryWrite calls
	opened chan struct{}
}

func newDirectSocket(room int) *directSocket {
	return &directSocket{readSocket: newReadSocket(), room: room, opened: make(chan struct{}, 1)}
}

func (d *directSocket) TryWrite(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tries++
	n := len(b)
	if d.room >= 0 {
		n = min(n, d.room)
		d.room -= n
	}
	d.out = append(d.out, b[:n]...)
	return n, nil
}

func (d *directSocket) WriteAll(b []byte, deadline time.Time) error {
	for {
		d.mu.Lock()
		if d.room < 0 || d.room >= len(b) {
			d.out = append(d.out, b...)
			if d.room >= 0 {
				d.room -= len(b)
			}
			d.mu.Unlock()
			return nil
		}
		d.mu.Unlock()
		select {
		case <-d.opened:
		case <-time.After(time.Until(deadline)):
			return os.ErrDeadlineExceeded
		}
	}
}

// open lets the peer read again: every write goes through.
func (d *directSocket) open() {
	d.mu.Lock()
	d.room = -1
	d.mu.Unlock()
	d.opened <- struct{}{}
}

// frames parses what was written into "text:...", "ping", "pong:..." and
// "close:CODE REASON".
func (d *directSocket) frames() []string {
	d.mu.Lock()
	b := slices.Clone(d.out)
	d.mu.Unlock()
	var out []string
	for len(b) >= 2 {
		op, n, h := b[0]&0x0f, int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, h = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, h = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if b[0]&0x80 == 0 || len(b) < h+n {
			out = append(out, "partial")
			break
		}
		p := b[h : h+n]
		switch op {
		case TextMessage:
			out = append(out, "text:"+string(p))
		case PingMessage:
			out = append(out, "ping")
		case PongMessage:
			out = append(out, "pong:"+string(p))
		case CloseMessage:
			out = append(out, fmt.Sprintf("close:%d %s", binary.BigEndian.Uint16(p), p[2:]))
		}
		b = b[h+n:]
	}
	return out
}

// serve runs c.Serve on s in a goroutine; the returned channel gets its
// reason.
func serve(c *Client, s Socket) chan string {
	done := make(chan string, 1)
	go func() { done <- c.Serve(s, func([]byte, int) bool { return false }) }()
	return done
}

// The pool writes what was queued as one message with one non-blocking
// write, pings from the wheel, answers a ping with a pong, and on
// shutdown writes 1012 and lets Serve return.
func TestPoolWritesQueuedFramesPingsAndCloses(t *testing.T) {
	h := newHarness(t, Config{PingPeriod: 40 * time.Millisecond, PongWait: time.Hour})
	c := h.join("r", alice, "s1")
	c.Send([]byte("extra|"))
	s := newDirectSocket(-1)
	done := serve(c, s)
	want := "text:r:snap:seqs=:members=|r:msg:1:join:alice:|r:joined:alice:1|extra|"
	waitFor(t, "the queued frames", func() bool { f := s.frames(); return len(f) > 0 && f[0] == want })
	waitFor(t, "a ping", func() bool { return slices.Contains(s.frames(), "ping") })
	c.Pong([]byte("p1"))
	waitFor(t, "the pong", func() bool { return slices.Contains(s.frames(), "pong:p1") })
	h.reg.Close()
	if got := <-done; got != EndShutdown {
		t.Errorf("Serve returned %q, want %q", got, EndShutdown)
	}
	f := s.frames()
	if last := f[len(f)-1]; last != "close:1012 "+shutdownReason {
		t.Errorf("last frame %q, want the 1012 close frame; all: %q", last, f)
	}
}

// A peer whose window is full holds no pool writer: the others are
// written meanwhile. Once evicted it gets the rest of the message in
// flight and then 1013 if it reads again.
func TestStalledPeerDoesNotHoldThePool(t *testing.T) {
	// bob's writes wait up to WriteInterval for company: his queue must
	// hold what the test posts meanwhile (about a post a millisecond).
	h := newHarness(t, Config{Grace: time.Hour, QueueBytes: 30000, MessageBurst: 1000, PongWait: time.Hour})
	stuck := h.join("r", alice, "s1")
	other := h.join("r", bob, "s2")
	ss, os := newDirectSocket(10), newDirectSocket(-1) // the stuck peer takes 10 bytes
	stuckDone, otherDone := serve(stuck, ss), serve(other, os)
	text := strings.Repeat("z", 1000)
	posts := 0
	waitFor(t, "eviction", func() bool {
		h.post("r", bob, text)
		posts++
		return stuck.Cause() != ""
	})
	if got := stuck.Cause(); got != EndEvicted {
		t.Fatalf("Cause = %q, want %q", got, EndEvicted)
	}
	// bob got every post although alice's writes are stuck.
	waitFor(t, "bob's posts", func() bool {
		return strings.Count(strings.Join(os.frames(), ""), "text:bob:") == posts
	})
	ss.open()
	if got := <-stuckDone; got != EndEvicted {
		t.Errorf("stuck Serve returned %q, want %q", got, EndEvicted)
	}
	f := ss.frames()
	if len(f) < 2 || f[len(f)-1] != "close:1013 "+evictReason || slices.Contains(f, "partial") {
		t.Errorf("the stuck peer read %d frames ending %q, want whole messages then 1013", len(f), f[max(0, len(f)-2):])
	}
	h.reg.Leave(other)
	<-otherDone
}

// A stalled peer that never reads again is dropped at its write's
// deadline, within WriteWait of the eviction, without a close frame.
func TestStalledPeerIsDroppedWithinWriteWait(t *testing.T) {
	const writeWait = 200 * time.Millisecond
	h := newHarness(t, Config{Grace: time.Hour, WriteWait: writeWait, QueueBytes: 3000, MessageBurst: 1000, PongWait: time.Hour})
	stuck := h.join("r", alice, "s1")
	h.join("r", bob, "s2")
	ss := newDirectSocket(10)
	done := serve(stuck, ss)
	text := strings.Repeat("z", 1000)
	waitFor(t, "eviction", func() bool {
		h.post("r", bob, text)
		return stuck.Cause() != ""
	})
	evicted := time.Now()
	select {
	case got := <-done:
		if got != EndEvicted {
			t.Errorf("Serve returned %q, want %q", got, EndEvicted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled connection was not ended")
	}
	if d := time.Since(evicted); d > writeWait+time.Second {
		t.Errorf("ended %v after the eviction, want within about WriteWait (%v)", d, writeWait)
	}
	if f := ss.frames(); slices.Contains(f, "close:1013 "+evictReason) {
		t.Errorf("a close frame was written to a peer that never read: %q", f)
	}
}

// In a big room, the presence frames of joins that come close together
// reach a connection written by the pool in one message, not one per
// join.
func TestPresenceOfABigRoomIsCoalesced(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, PongWait: time.Hour, MaxConnsPerUser: 1000})
	watcher := h.join("r", alice, "w")
	ws := newDirectSocket(-1)
	done := serve(watcher, ws)
	// Fill the room to presenceBatchMin connections, undrained extras.
	for i := range presenceBatchMin {
		h.join("r", Member{ID: int64(100 + i), Name: fmt.Sprint("m", i)}, "s")
	}
	waitFor(t, "the first joins", func() bool {
		return strings.Contains(strings.Join(ws.frames(), ""), fmt.Sprintf("joined:m%d:", presenceBatchMin-1))
	})
	before := len(ws.frames())
	const storm = 20
	for i := range storm {
		h.join("r", Member{ID: int64(1000 + i), Name: fmt.Sprint("s", i)}, "s")
	}
	waitFor(t, "the storm's joins", func() bool {
		return strings.Contains(strings.Join(ws.frames(), ""), fmt.Sprintf("joined:s%d:", storm-1))
	})
	got := ws.frames()[before:]
	if len(got) > 3 {
		t.Errorf("%d joins took %d messages, want them coalesced into one or two", storm, len(got))
	}
	all := strings.Join(got, "")
	for i := range storm {
		if !strings.Contains(all, fmt.Sprintf("join:s%d:|r:joined:s%d:", i, i)) {
			t.Errorf("join %d missing or out of order", i)
		}
	}
	h.reg.Leave(watcher)
	<-done
}

// block makes the peer stop reading: TryWrite takes nothing more.
func (d *directSocket) block() {
	d.mu.Lock()
	d.room = 0
	d.mu.Unlock()
}

// A connection closed while its peer's window is full but nothing is in
// flight (its last write went through whole, so the pool holds it idle)
// waits for its close frame in a goroutine of its own, not in a pool
// writer: the writers go on writing the others meanwhile. A shutdown, a
// sign-out or a Leave used to hold one pool writer for up to WriteWait
// per such peer, so as many of them as there are writers stopped every
// other connection's writes.
func TestClosingAStalledIdlePeerDoesNotHoldThePool(t *testing.T) {
	const writeWait = 5 * time.Second
	h := newHarness(t, Config{Grace: time.Hour, WriteWait: writeWait, PongWait: time.Hour})
	stalled := h.reg.pool.max // enough to take every writer
	clients := make([]*Client, stalled)
	socks := make([]*directSocket, stalled)
	dones := make([]chan string, stalled)
	for i := range stalled {
		clients[i] = h.join(fmt.Sprint("stalled", i), Member{ID: int64(100 + i), Name: fmt.Sprint("s", i)}, "s")
		socks[i] = newDirectSocket(-1)
		dones[i] = serve(clients[i], socks[i])
	}
	bobM := Member{ID: 2, Name: "bob"}
	bob := h.join("r", bobM, "b")
	bs := newDirectSocket(-1)
	bobDone := serve(bob, bs)
	waitFor(t, "everyone's join frames", func() bool {
		for i, c := range clients {
			c.mu.Lock()
			idle := c.state == stIdle
			c.mu.Unlock()
			if !idle || len(socks[i].frames()) == 0 {
				return false
			}
		}
		return len(bs.frames()) > 0
	})
	for i, c := range clients {
		socks[i].block()
		c.Close(ClosePolicyViolation, "bye")
	}
	posted := time.Now()
	h.post("r", bobM, "still here")
	waitFor(t, "bob's message", func() bool { return strings.Contains(strings.Join(bs.frames(), ""), ":bob:still here|") })
	if d := time.Since(posted); d > writeWait/3 {
		t.Errorf("bob's message took %v to be written while %d closed peers were stalled, want well under WriteWait (%v)", d.Round(time.Millisecond), stalled, writeWait)
	}
	// The stalled peers still get their close frame once they read.
	for _, s := range socks {
		s.open()
	}
	for i := range clients {
		<-dones[i]
		if f := socks[i].frames(); f[len(f)-1] != "close:1008 bye" {
			t.Errorf("stalled peer %d read %q last, want its close frame", i, f[len(f)-1])
		}
	}
	h.reg.Leave(bob)
	<-bobDone
}
