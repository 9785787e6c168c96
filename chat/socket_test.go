package chat

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// peerFrame is one message the peer sends, or the error its read returns.
type peerFrame struct {
	kind int
	data string
	err  error
}

// readSocket is a fakeSocket that a peer also writes to: ReadMessage
// returns the frames in order, io.EOF once they are closed, and a timeout
// error once the read deadline passes.
type readSocket struct {
	*fakeSocket
	frames chan peerFrame
	moved  chan struct{} // capacity 1: the read deadline moved

	mu       sync.Mutex
	deadline time.Time
	limit    int64
}

func newReadSocket(frames ...peerFrame) *readSocket {
	s := &readSocket{fakeSocket: &fakeSocket{}, frames: make(chan peerFrame, len(frames)), moved: make(chan struct{}, 1)}
	for _, f := range frames {
		s.frames <- f
	}
	return s
}

func (s *readSocket) ReadMessage() (int, []byte, error) {
	for {
		s.mu.Lock()
		wait := time.Until(s.deadline)
		s.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case f, ok := <-s.frames:
			timer.Stop()
			if !ok {
				return 0, nil, io.EOF
			}
			return f.kind, []byte(f.data), f.err
		case <-timer.C:
			return 0, nil, os.ErrDeadlineExceeded
		case <-s.moved:
			timer.Stop()
		}
	}
}

func (s *readSocket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	select {
	case s.moved <- struct{}{}:
	default:
	}
	return nil
}

func (s *readSocket) SetReadLimit(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = n
}

func (s *readSocket) SetPongHandler(func(string) error) {}

// Serve ends a connection for what the peer did, with the close frame the
// peer hears and the reason the handler logs, and the member leaves.
func TestServeEndsForWhatThePeerDid(t *testing.T) {
	alice := Member{ID: 1, Name: "alice"}
	for _, tc := range []struct {
		name   string
		frames []peerFrame
		eof    bool // the peer closes after its frames
		reason string
		close  string
	}{
		{"peer closed", nil, true, EndClientClosed, "1000 "},
		{"silent peer", nil, false, EndPingTimeout, "1000 "},
		{"binary frame", []peerFrame{{kind: 2, data: "hi"}}, false, EndBinary, "1003 Only text frames are accepted."},
		{"invalid utf-8", []peerFrame{{kind: TextMessage, data: "\xff"}}, false, EndInvalid, "1007 Frames must be valid UTF-8."},
		{"too large", []peerFrame{{err: fmt.Errorf("reading: %w", ErrReadLimit)}}, false, EndTooLarge, "1000 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{PongWait: 50 * time.Millisecond})
			c := h.join("general", alice, "s1")
			s := newReadSocket(tc.frames...)
			if tc.eof {
				close(s.frames)
			}
			var texts []string
			reason := c.Serve(s, func(text []byte, _ int) bool {
				texts = append(texts, string(text))
				return false
			})
			if reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			if got := s.closeFrames(); !slices.Equal(got, []string{tc.close}) {
				t.Errorf("close frames %q, want %q", got, tc.close)
			}
			if s.limit != DefaultMaxFrame || len(texts) > 0 {
				t.Errorf("read limit %d, texts %q; want %d, none", s.limit, texts, DefaultMaxFrame)
			}
			if st := h.reg.Stats(); st.Connections != 0 {
				t.Errorf("after Serve: %+v, want no connection", st)
			}
		})
	}
}

// Text frames reach onText in order with the count of rate-limit refusals
// just before each; floodLimit refusals in a row end the connection.
func TestServeCountsRefusalsInARow(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.join("general", Member{ID: 1, Name: "alice"}, "s1")
	frames := []peerFrame{{kind: TextMessage, data: "ok"}}
	for i := 0; i < floodLimit; i++ {
		frames = append(frames, peerFrame{kind: TextMessage, data: "refused"})
	}
	s := newReadSocket(frames...)
	var before []int
	reason := c.Serve(s, func(text []byte, refusedBefore int) bool {
		before = append(before, refusedBefore)
		return string(text) == "refused"
	})
	if reason != EndFlood || len(before) != floodLimit+1 || before[1] != 0 || before[floodLimit] != floodLimit-1 {
		t.Errorf("reason %q, refusedBefore %v; want %q after 0, 0, 1, …, %d", reason, before, EndFlood, floodLimit-1)
	}
	if got, want := s.closeFrames(), []string{"1008 Too many messages too fast."}; !slices.Equal(got, want) {
		t.Errorf("close frames %q, want %q", got, want)
	}
}

// A panic in onText reaches Serve's caller only after the member has left
// and the writer has ended; the peer hears 1011, nothing more.
func TestServePanicClosesWith1011(t *testing.T) {
	h := newHarness(t, Config{})
	c := h.join("general", Member{ID: 1, Name: "alice"}, "s1")
	s := newReadSocket(peerFrame{kind: TextMessage, data: "boom"})
	var got any
	func() {
		defer func() { got = recover() }()
		c.Serve(s, func([]byte, int) bool { panic("boom") })
	}()
	if got != "boom" {
		t.Errorf("recovered %v, want boom", got)
	}
	if frames, want := s.closeFrames(), []string{"1011 Internal error."}; !slices.Equal(frames, want) {
		t.Errorf("close frames %q, want %q", frames, want)
	}
	if st := h.reg.Stats(); st.Connections != 0 {
		t.Errorf("after the panic: %+v, want no connection", st)
	}
}

// A connection closed because its member may no longer act through it
// (signed out, removed from the room) acts on nothing its peer still
// sends before answering the close: those frames never reach onText, so
// a signed-out tab cannot post, edit or react in the second or so the
// close handshake takes (or the WriteWait a peer that stopped reading
// gets for its close frame). An evicted connection's frames still count:
// its member is welcome, only slow.
func TestClosedConnectionActsOnNoMoreFrames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		close  func(h *harness, c *Client)
		reason string
		acted  bool
	}{
		{"signed out", func(h *harness, _ *Client) { h.reg.CloseSession("s1", ClosePolicyViolation, "Signed out.") }, EndSignedOut, false},
		{"user closed", func(h *harness, _ *Client) { h.reg.CloseUser(alice.ID, "", ClosePolicyViolation, "Disabled.") }, EndSignedOut, false},
		{"evicted", func(_ *harness, c *Client) { c.mu.Lock(); c.evictLocked(evictBytes); c.mu.Unlock() }, EndEvicted, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{PongWait: time.Hour})
			c := h.join("general", alice, "s1")
			s := newReadSocket()
			var mu sync.Mutex
			var texts []string
			done := make(chan string, 1)
			go func() {
				done <- c.Serve(s, func(text []byte, _ int) bool {
					mu.Lock()
					texts = append(texts, string(text))
					mu.Unlock()
					return false
				})
			}()
			s.frames <- peerFrame{kind: TextMessage, data: "before"}
			waitFor(t, "the first frame", func() bool { mu.Lock(); defer mu.Unlock(); return len(texts) == 1 })
			tc.close(h, c)
			waitFor(t, "the close frame", func() bool { return len(s.closeFrames()) > 0 })
			s.frames <- peerFrame{kind: TextMessage, data: "after"}
			close(s.frames)
			if got := <-done; got != tc.reason {
				t.Errorf("Serve returned %q, want %q", got, tc.reason)
			}
			want := []string{"before"}
			if tc.acted {
				want = append(want, "after")
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(texts, want) {
				t.Errorf("onText got %q, want %q", texts, want)
			}
		})
	}
}
