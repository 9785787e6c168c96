package chat

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Test fixtures shared by the tests of this package.

var (
	alice = Member{ID: 1, Name: "alice"}
	bob   = Member{ID: 2, Name: "bob"}
	carol = Member{ID: 3, Name: "carol"}
	dave  = Member{ID: 4, Name: "dave"}
)

// fakeRenderer renders recognizable frames, each ended by "|", and counts
// its calls.
type fakeRenderer struct {
	calls atomic.Int64
	snaps atomic.Int64 // Snapshot calls
	// beforeSnap, if set (before the registry is used concurrently), runs
	// at the start of every Snapshot call.
	beforeSnap func()
}

func (f *fakeRenderer) Message(room string, m Message) []byte {
	f.calls.Add(1)
	return fmt.Appendf(nil, "%s:msg:%d:%s:%s:%s|", room, m.Seq, m.Kind, m.Author.Name, m.Text)
}

func (f *fakeRenderer) MemberJoined(room string, m Member, count int) []byte {
	f.calls.Add(1)
	return fmt.Appendf(nil, "%s:joined:%s:%d|", room, m.Name, count)
}

func (f *fakeRenderer) MemberLeft(room string, m Member, count int) []byte {
	f.calls.Add(1)
	return fmt.Appendf(nil, "%s:left:%s:%d|", room, m.Name, count)
}

func (f *fakeRenderer) Snapshot(room string, history []Message, members []Member) []byte {
	f.calls.Add(1)
	f.snaps.Add(1)
	if f.beforeSnap != nil {
		f.beforeSnap()
	}
	seqs := make([]string, len(history))
	for i, m := range history {
		seqs[i] = fmt.Sprint(m.Seq)
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	return fmt.Appendf(nil, "%s:snap:seqs=%s:members=%s|", room, strings.Join(seqs, ","), strings.Join(names, ","))
}

func (f *fakeRenderer) Update(room string, m Message) []byte {
	f.calls.Add(1)
	state := "text"
	switch {
	case m.Deleted:
		state = "deleted"
	case m.Edited:
		state = "edited"
	}
	return fmt.Appendf(nil, "%s:update:%d:%s:%s:continued=%v|", room, m.Seq, state, m.Text, m.Continued)
}

func (f *fakeRenderer) Reactions(room string, m Message) []byte {
	f.calls.Add(1)
	var rs []string
	for _, r := range m.Reactions {
		names := make([]string, len(r.By))
		for i, b := range r.By {
			names[i] = b.Name
		}
		rs = append(rs, r.Emoji+"="+strings.Join(names, "+"))
	}
	return fmt.Appendf(nil, "%s:reactions:%d:%s|", room, m.Seq, strings.Join(rs, ","))
}

func (f *fakeRenderer) Typing(room string, names []string) []byte {
	f.calls.Add(1)
	return fmt.Appendf(nil, "%s:typing:%s|", room, strings.Join(names, "+"))
}

func (f *fakeRenderer) Mentioned(room string, m Message) []byte {
	f.calls.Add(1)
	return fmt.Appendf(nil, "%s:mentioned:%d:%s|", room, m.Seq, m.Author.Name)
}

// fakeSocket records what a writePump writes.
type fakeSocket struct {
	mu        sync.Mutex
	msgs      []string // text messages, one per WriteMessage
	pings     int
	deadlines int
	closes    []string // close frames as "code reason"
	fail      error    // returned by every write when set
}

func (s *fakeSocket) SetWriteDeadline(time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadlines++
	return nil
}

func (s *fakeSocket) WriteMessage(typ int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if typ != TextMessage {
		return errors.New("not a text message")
	}
	s.msgs = append(s.msgs, string(data))
	return nil
}

func (s *fakeSocket) WriteControl(typ int, data []byte, deadline time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if deadline.IsZero() {
		return errors.New("control frame without deadline")
	}
	switch typ {
	case PingMessage:
		s.pings++
	case CloseMessage:
		code := int(data[0])<<8 | int(data[1])
		s.closes = append(s.closes, fmt.Sprintf("%d %s", code, data[2:]))
	}
	return nil
}

// text returns everything written so far, messages concatenated.
func (s *fakeSocket) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.msgs, "")
}

func (s *fakeSocket) closeFrames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.closes...)
}

// harness is a registry under test with the goroutines it started.
type harness struct {
	t     *testing.T
	reg   *Registry
	rend  *fakeRenderer
	pumps sync.WaitGroup
}

// newHarness builds a registry; at the end of the test it closes it,
// waits for the pumps it started and checks that no goroutine leaked.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	h := &harness{t: t, rend: &fakeRenderer{}}
	h.reg = New(cfg, h.rend)
	t.Cleanup(func() {
		h.reg.Close()
		h.pumps.Wait()
	})
	return h
}

// join joins or fails the test.
func (h *harness) join(slug string, m Member, session string) *Client {
	h.t.Helper()
	c, err := h.reg.Join(slug, m, session)
	if err != nil {
		h.t.Fatalf("Join(%q, %s): %v", slug, m.Name, err)
	}
	return c
}

// post posts or fails the test.
func (h *harness) post(slug string, m Member, text string) Message {
	h.t.Helper()
	msg, err := h.reg.Post(slug, m, text)
	if err != nil {
		h.t.Fatalf("Post(%q, %s, %q): %v", slug, m.Name, text, err)
	}
	return msg
}

// pump runs c's writePump on a new fakeSocket until c closes.
func (h *harness) pump(c *Client) *fakeSocket {
	s := &fakeSocket{}
	h.pumps.Add(1)
	go func() {
		defer h.pumps.Done()
		c.writePump(s)
	}()
	return s
}

// drain empties c's queue without a pump and returns the frames, which
// then count as written (their bytes are released).
func drain(c *Client) string {
	frames, _ := c.take(nil)
	var b strings.Builder
	for _, f := range frames {
		b.Write(f)
	}
	c.endWrite(b.Len())
	return b.String()
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock is a Config.Now that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func seqsOf(history []Message) []uint64 {
	out := make([]uint64, len(history))
	for i, m := range history {
		out[i] = m.Seq
	}
	return out
}
