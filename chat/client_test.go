package chat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFullQueueEvictsOnlyThatClient(t *testing.T) {
	h := newHarness(t, Config{QueueLimit: 5})
	slow := h.join("r", alice, "s1")
	drain(slow)
	b := h.join("r", bob, "s2")
	drain(slow)
	drain(b)
	c := h.join("r", carol, "s3")
	drain(slow)
	drain(b)
	drain(c)

	for i := 1; i <= 5; i++ { // fills the slow client's queue exactly
		h.post("r", bob, fmt.Sprintf("p%d", i))
		drain(b)
		drain(c)
	}
	select {
	case <-slow.Done():
		t.Fatal("client evicted with its queue at the limit, before any overflow")
	default:
	}
	h.post("r", bob, "p6") // seq 9: three joins, five posts before it
	<-slow.Done()

	want := "r:msg:9:text:bob:p6|r:msg:10:leave:alice:|r:left:alice:2|"
	for name, cl := range map[string]*Client{"bob": b, "carol": c} {
		if got := drain(cl); got != want {
			t.Errorf("%s got %q, want %q", name, got, want)
		}
	}
	s := &fakeSocket{}
	slow.writePump(s) // returns at once: the client is closed
	if got, want := s.closeFrames(), []string{"1013 " + evictReason}; !slices.Equal(got, want) {
		t.Errorf("evicted client's close frames = %q, want %q", got, want)
	}
	if got := s.text(); got != "" {
		t.Errorf("evicted client was written %q, want nothing", got)
	}
	if slow.Send([]byte("late")) {
		t.Error("Send to an evicted client returned true")
	}
	h.reg.Leave(slow) // the handler still calls Leave: a no-op now
	// alice's user record stays: she created the room, which is alive.
	if got, want := h.reg.Stats(), (Stats{Rooms: 1, Members: 2, Connections: 2, Users: 3, Sessions: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestSendOverflowEvicts(t *testing.T) {
	h := newHarness(t, Config{QueueLimit: 3, Grace: time.Hour})
	c := h.join("r", alice, "s1") // snapshot, then notice+joined as one entry: 2 frames
	if !c.Send([]byte("err|")) {
		t.Fatal("Send of the 3rd frame returned false")
	}
	if c.Send([]byte("err|")) {
		t.Fatal("Send of the 4th frame returned true; want eviction")
	}
	<-c.Done()
	if got, want := h.reg.Stats(), (Stats{Rooms: 1, Members: 1, Pending: 1, Users: 1}); got != want {
		t.Errorf("Stats after eviction = %+v, want %+v (alice inside her grace period)", got, want)
	}
}

func TestCloseRestartsEveryConnection(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, Permanent: []string{"general"}})
	clients := []*Client{h.join("general", alice, "s1"), h.join("general", bob, "s2"), h.join("r", carol, "s3")}
	gone := h.join("r", dave, "s4")
	h.reg.Leave(gone) // dave is pending when the server stops
	if err := h.reg.Ensure("unjoined", dave); err != nil {
		t.Fatal(err)
	}
	var sockets []*fakeSocket
	for _, c := range clients {
		sockets = append(sockets, h.pump(c))
	}
	h.reg.Close()
	h.pumps.Wait() // every writePump returned
	for i, s := range sockets {
		if got, want := s.closeFrames(), []string{"1012 " + shutdownReason}; !slices.Equal(got, want) {
			t.Errorf("socket %d close frames = %q, want %q", i, got, want)
		}
	}
	if _, err := h.reg.Join("general", dave, "s4"); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: error = %v, want %v", err, ErrClosed)
	}
	if err := h.reg.Ensure("new", dave); !errors.Is(err, ErrClosed) {
		t.Errorf("Ensure after Close: error = %v, want %v", err, ErrClosed)
	}
	for _, c := range clients {
		h.reg.Leave(c)
	}
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats after Close and every Leave = %+v, want all zero", got)
	}
}

func TestCloseUserAndCloseSession(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour})
	keep := h.join("a", alice, "keep")
	other1 := h.join("a", alice, "other")
	other2 := h.join("b", alice, "other")
	third := h.join("b", alice, "third")
	b := h.join("a", bob, "bob")

	got := h.reg.Sessions()
	slices.Sort(got)
	if want := []string{"bob", "keep", "other", "third"}; !slices.Equal(got, want) {
		t.Errorf("Sessions() = %q, want %q", got, want)
	}
	closed := func(c *Client) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}
	h.reg.CloseUser(alice.ID, "keep", ClosePolicyViolation, "Password changed.")
	want := map[*Client]bool{keep: false, other1: true, other2: true, third: true, b: false}
	for c, w := range want {
		if closed(c) != w {
			t.Errorf("after CloseUser: %s's client in %s (session %s) closed = %v, want %v", c.Member().Name, c.Room(), c.session, !w, w)
		}
	}
	if code, reason := other1.closeFrame(); code != ClosePolicyViolation || reason != "Password changed." {
		t.Errorf("close frame = %d %q, want %d %q", code, reason, ClosePolicyViolation, "Password changed.")
	}
	h.reg.CloseSession("keep", CloseNormal, "Signed out.")
	if !closed(keep) || closed(b) {
		t.Errorf("after CloseSession(keep): keep closed = %v, bob closed = %v; want true, false", closed(keep), closed(b))
	}
}

func TestWritePumpJoinsQueuedFramesAndPings(t *testing.T) {
	h := newHarness(t, Config{PingPeriod: 10 * time.Millisecond})
	c := h.join("r", alice, "s1")
	c.Send([]byte("extra|"))
	s := h.pump(c)
	want := "r:snap:seqs=:members=|r:msg:1:join:alice:|r:joined:alice:1|extra|"
	waitFor(t, "queued frames written", func() bool { return s.text() == want })
	waitFor(t, "two pings", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.pings >= 2 })
	s.mu.Lock()
	msgs, deadlines := len(s.msgs), s.deadlines
	s.mu.Unlock()
	if msgs != 1 || deadlines != 1 {
		t.Errorf("4 queued frames took %d messages and %d deadlines, want 1 and 1", msgs, deadlines)
	}
	c.Close(CloseNormal, "bye")
	h.pumps.Wait()
	if got, want := s.closeFrames(), []string{"1000 bye"}; !slices.Equal(got, want) {
		t.Errorf("close frames = %q, want %q", got, want)
	}
}

func TestWriteErrorClosesClient(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.join("r", alice, "s1")
	s := &fakeSocket{fail: errors.New("broken pipe")}
	c.writePump(s) // fails on the first write and returns
	<-c.Done()
	if got := s.closeFrames(); len(got) != 0 {
		t.Errorf("close frames after a failed write = %q, want none", got)
	}
	h.reg.Leave(c)
	h.reg.Leave(c)
	if got := h.reg.Stats(); got != (Stats{}) {
		t.Errorf("Stats = %+v, want all zero", got)
	}
}

func TestClosePayload(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		code   int
		reason string
		want   []byte
	}{
		{1000, "", []byte{0x03, 0xe8}},
		{1013, "slow", append([]byte{0x03, 0xf5}, "slow"...)},
		{1012, long, append([]byte{0x03, 0xf4}, long[:122]...)}, // 61 runes: 122 bytes fit in 123
	}
	for _, tt := range tests {
		got := closePayload(tt.code, tt.reason)
		if !slices.Equal(got, tt.want) || len(got) > 125 || !utf8.Valid(got[2:]) {
			t.Errorf("closePayload(%d, %d bytes) = % x, want % x", tt.code, len(tt.reason), got, tt.want)
		}
	}
}
