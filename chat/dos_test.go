package chat

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the bounds that keep one member from making the server hold
// (or write) megabytes: issue 10, items 1 and 3.

func TestHistoryIsBoundedInRenderedBytes(t *testing.T) {
	// Each frame is "r:msg:SEQ:text:alice:TEXT|": 21 bytes around a
	// 2-digit seq plus the text; with 100-byte texts, 121 bytes.
	h := newHarness(t, Config{Grace: time.Hour, History: 200, HistoryBytes: 500, MessageBurst: 100})
	c := h.join("r", alice, "s1") // seq 1: alice's join notice, 18 bytes
	for i := 2; i <= 10; i++ {
		h.post("r", alice, strings.Repeat(fmt.Sprint(i%10), 100))
	}
	history, _, _ := h.reg.Room("r")
	// 4 x 121 = 484 bytes fit in 500; a fifth would not.
	if got, want := fmt.Sprint(seqsOf(history)), "[7 8 9 10]"; got != want {
		t.Errorf("history seqs = %s, want %s", got, want)
	}
	// A reconnect's snapshot holds the same bounded history.
	drain(c)
	c2 := h.join("r", alice, "s2")
	if got, want := drain(c2), "r:snap:seqs=7,8,9,10:members=alice|"; got != want {
		t.Errorf("snapshot = %q, want %q", got, want)
	}
	// One message bigger than the whole bound is still kept alone.
	h.post("r", alice, strings.Repeat("x", 1000))
	if history, _, _ := h.reg.Room("r"); fmt.Sprint(seqsOf(history)) != "[11]" {
		t.Errorf("after a huge message, history seqs = %v, want [11]", seqsOf(history))
	}
}

func TestSnapshotIsRenderedOnceAndShared(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour})
	h.join("r", alice, "s1")
	h.post("r", alice, "hi")
	before := h.rend.snaps.Load()

	// Ten tabs of bob's, at once: the first is a new member (its join
	// changes the member list), the others all see the same room state.
	h.join("r", bob, "b0")
	var wg sync.WaitGroup
	clients := make([]*Client, 10)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i] = h.join("r", bob, fmt.Sprint("b", i+1))
		}()
	}
	wg.Wait()
	if got := h.rend.snaps.Load() - before; got != 2 {
		t.Errorf("Snapshot rendered %d times for 11 joins over 2 room states, want 2", got)
	}
	var shared *byte
	for i, c := range clients {
		frames, _ := c.take(nil)
		if len(frames) != 1 {
			t.Fatalf("tab %d: %d frames queued, want the snapshot only", i, len(frames))
		}
		if got, want := string(frames[0]), "r:snap:seqs=1,2,3:members=alice,bob|"; got != want {
			t.Fatalf("tab %d: snapshot %q, want %q", i, got, want)
		}
		if shared == nil {
			shared = &frames[0][0]
		} else if &frames[0][0] != shared {
			t.Errorf("tab %d got its own copy of the snapshot, want the shared bytes", i)
		}
	}
}

func TestSnapshotRendersOutsideTheLockAndKeepsRoomOrder(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour})
	h.join("r", alice, "s1")
	h.post("r", alice, "before")

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.rend.beforeSnap = func() {
		once.Do(func() { // only the first render is held up
			close(started)
			<-release
		})
	}
	h.rend.snaps.Store(0)
	joined := make(chan *Client, 1)
	go func() { joined <- h.join("r", alice, "s2") }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the joiner did not render a snapshot")
	}

	// While the joiner renders, the room goes on: a post does not wait.
	posted := make(chan error, 1)
	go func() {
		_, err := h.reg.Post("r", alice, "during")
		posted <- err
	}()
	select {
	case err := <-posted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		close(release)
		t.Fatal("a post waited for a joiner's snapshot to render")
	}
	close(release)
	c := <-joined
	h.post("r", alice, "after")

	// The joiner gets the snapshot as rendered, then "during" (which
	// happened meanwhile) and "after": each once, in room order, and
	// nothing rendered twice.
	want := "r:snap:seqs=1,2:members=alice|r:msg:3:text:alice:during|r:msg:4:text:alice:after|"
	if got := drain(c); got != want {
		t.Errorf("joiner received %q\nwant %q", got, want)
	}
	if got := h.rend.snaps.Load(); got != 1 {
		t.Errorf("Snapshot rendered %d times, want 1", got)
	}
}

func TestRacedSnapshotRendersAgainWhenTheLogIsShort(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, MessageBurst: 100})
	h.join("r", alice, "s1")
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.rend.beforeSnap = func() {
		once.Do(func() {
			close(started)
			<-release
		})
	}
	joined := make(chan *Client, 1)
	go func() { joined <- h.join("r", alice, "s2") }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the joiner did not render a snapshot")
	}
	// More posts than the delta log holds happen during the render.
	for i := range maxDeltas + 1 {
		h.post("r", alice, fmt.Sprint("m", i))
	}
	close(release)
	c := <-joined
	seqs := make([]string, 0, maxDeltas+2)
	for i := 1; i <= maxDeltas+2; i++ {
		seqs = append(seqs, fmt.Sprint(i))
	}
	want := "r:snap:seqs=" + strings.Join(seqs, ",") + ":members=alice|"
	if got := drain(c); got != want {
		t.Errorf("joiner received %q\nwant %q", got, want)
	}
}

func TestQueueIsBoundedInBytes(t *testing.T) {
	// Frames "r:msg:SEQ:text:bob:TEXT|" with 1-digit seqs and 1,000-byte
	// texts are 1,019 bytes.
	h := newHarness(t, Config{Grace: time.Hour, QueueBytes: 4000, MessageBurst: 100})
	slow := h.join("r", alice, "s1")
	b := h.join("r", bob, "s2")
	drain(slow)
	drain(b)
	text := strings.Repeat("x", 1000)
	for i := range 3 { // 3 x 1,019 bytes fit in 4,000
		h.post("r", bob, text)
		drain(b)
		select {
		case <-slow.Done():
			t.Fatalf("evicted after %d frames, %d bytes", i+1, (i+1)*1019)
		default:
		}
	}
	h.post("r", bob, text) // 4,076 bytes: one too many
	select {
	case <-slow.Done():
	default:
		t.Fatal("a connection holding 4,076 bytes with QueueBytes 4,000 was not evicted")
	}
	if got := slow.Cause(); got != EndEvicted {
		t.Errorf("Cause = %q, want %q", got, EndEvicted)
	}
	s := &fakeSocket{}
	slow.writePump(s)
	if got, want := s.closeFrames(), []string{"1013 " + evictReason}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("close frames = %q, want %q", got, want)
	}
}

func TestUserQueueBytesEvictsTheUsersHog(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, UserQueueBytes: 5000, MessageBurst: 100})
	text := strings.Repeat("x", 1000)
	// bob has three connections in three rooms, none of them written yet.
	var tabs []*Client
	for _, slug := range []string{"a", "b", "c"} {
		h.join(slug, alice, "s-"+slug)
		tabs = append(tabs, h.join(slug, bob, "b-"+slug))
	}
	for _, c := range tabs {
		drain(c) // written: nothing held yet
	}
	carolC := h.join("a", carol, "c1")
	drain(carolC)
	drain(tabs[0])
	// Frames of 1,020 bytes ("a:msg:5:text:alice:...|"): three to tab 0
	// (the hog) and one to tab 1 hold 4,080 bytes, under the cap of 5,000.
	h.post("a", alice, text)
	h.post("a", alice, text)
	h.post("a", alice, text)
	h.post("b", alice, text)
	for i, c := range tabs {
		if c.Cause() != "" {
			t.Fatalf("tab %d evicted below the user's cap", i)
		}
	}
	// A frame for tab 2 would make 5,100: tab 0, which holds the most, is
	// evicted, and tab 2 gets its frame.
	h.post("c", alice, text)
	if got := tabs[0].Cause(); got != EndEvicted {
		t.Errorf("the hog's Cause = %q, want %q", got, EndEvicted)
	}
	for i, c := range tabs[1:] {
		if c.Cause() != "" {
			t.Errorf("tab %d evicted (%q); want only the hog", i+1, c.Cause())
		}
	}
	if got, want := drain(tabs[2]), "c:msg:3:text:alice:"+text+"|"; got != want {
		t.Errorf("tab 2 received %q, want its frame", got)
	}
	// carol's queue in room a holds as much as bob's hog did: the cap is
	// bob's, not hers.
	if carolC.Cause() != "" {
		t.Error("carol was evicted by bob's cap")
	}
	// Bytes written are released: once tab 1 wrote its frame, bob has
	// room again.
	s := h.pump(tabs[1])
	waitFor(t, "tab 1 written", func() bool { return len(messageSizes(s)) == 1 })
	waitFor(t, "release", func() bool {
		tabs[1].mu.Lock()
		defer tabs[1].mu.Unlock()
		return tabs[1].held == 0
	})
	for range 4 {
		h.post("b", alice, text)
	}
	if tabs[1].Cause() != "" {
		t.Errorf("tab 1 evicted (%q) after bob's bytes were released", tabs[1].Cause())
	}
}

// messageSizes lists the sizes of the messages written to s.
func messageSizes(s *fakeSocket) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = len(m)
	}
	return out
}

func TestWrittenMessagesAreCappedAt64KB(t *testing.T) {
	h := newHarness(t, Config{Grace: time.Hour, MessageBurst: 100})
	c := h.join("r", alice, "s1")
	drain(c)
	// Frames "r:msg:N:text:alice:TEXT|" of 20,000 + 20 bytes (1-digit
	// seqs): three fit in 64 KiB (60,060 bytes), four do not.
	text := strings.Repeat("y", 20000)
	for range 7 {
		h.post("r", alice, text)
	}
	big := make([]byte, 100<<10) // a single frame larger than the cap
	c.Send(big)
	s := h.pump(c)
	waitFor(t, "8 frames written", func() bool { return len(messageSizes(s)) == 4 })
	if got, want := fmt.Sprint(messageSizes(s)), "[60060 60060 20020 102400]"; got != want {
		t.Errorf("message sizes = %s, want %s", got, want)
	}
	h.reg.Leave(c)
}

// pipeSocket writes websocket messages as raw bytes into one end of a
// net.Pipe, which blocks every write until the other end reads: a peer
// whose window is full. It exposes the pipe as its NetConn. When a message
// holding the byte mark begins to be written, it tells marked (if not nil).
type pipeSocket struct {
	conn   net.Conn
	mark   byte
	marked chan<- struct{}
}

func (p pipeSocket) SetWriteDeadline(t time.Time) error { return p.conn.SetWriteDeadline(t) }
func (p pipeSocket) WriteMessage(_ int, data []byte) error {
	if p.marked != nil && bytes.IndexByte(data, p.mark) >= 0 {
		select {
		case p.marked <- struct{}{}:
		default:
		}
	}
	_, err := p.conn.Write(data)
	return err
}
func (p pipeSocket) WriteControl(_ int, data []byte, deadline time.Time) error {
	_ = p.conn.SetWriteDeadline(deadline)
	_, err := p.conn.Write(data)
	return err
}
func (p pipeSocket) NetConn() net.Conn { return p.conn }

// evictStuck joins a client whose writer writes to one end of a pipe
// nobody reads yet, and posts until the frames piling up behind the stuck
// write get it evicted. It returns the client, the peer's end of the pipe
// and a channel that gets writePump's result.
func evictStuck(t *testing.T, writeWait time.Duration) (*Client, net.Conn, chan bool) {
	h := newHarness(t, Config{Grace: time.Hour, WriteWait: writeWait, QueueBytes: 3000, MessageBurst: 100})
	stuck := h.join("r", alice, "s1")
	h.join("r", bob, "s2")
	server, peer := net.Pipe()
	t.Cleanup(func() { server.Close(); peer.Close() })
	text := strings.Repeat("z", 1000)
	// The writer takes what is queued, a message included, and blocks
	// writing it; the rest pile up until they pass QueueBytes. (Were the
	// writer started first, it could be blocked on the join frames alone,
	// and no message would be in flight.)
	if _, err := h.reg.Post("r", bob, text); err != nil {
		t.Fatal(err)
	}
	pumped := make(chan bool, 1)
	writing := make(chan struct{}, 1)
	go func() { pumped <- stuck.writePump(pipeSocket{server, 'z', writing}) }()
	select {
	case <-writing:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not begin writing the first message")
	}
	waitFor(t, "eviction", func() bool {
		if _, err := h.reg.Post("r", bob, text); err != nil {
			t.Fatal(err)
		}
		return stuck.Cause() != ""
	})
	if got := stuck.Cause(); got != EndEvicted {
		t.Errorf("Cause = %q, want %q", got, EndEvicted)
	}
	return stuck, peer, pumped
}

// An evicted writer stuck in a write is not cut off mid-message: a peer
// that reads again gets the rest of that message and then 1013, the code
// the browser reconnects on (a cut would leave it only a broken
// connection, 1006).
func TestEvictedPeerThatReadsAgainGets1013(t *testing.T) {
	_, peer, pumped := evictStuck(t, 5*time.Second)
	// Read until the close frame has come (the pipe stays open: closing
	// the connection is Serve's part).
	want := string(closePayload(CloseTryAgainLater, evictReason))
	var got []byte
	buf := make([]byte, 4096)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !strings.HasSuffix(string(got), want) {
		n, err := peer.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("the peer read %d bytes ending %q, then %v; want the 1013 close frame %q at the end",
				len(got), got[max(0, len(got)-40):], err, want)
		}
	}
	if z := strings.Count(string(got), "z"); z == 0 || z%1000 != 0 {
		t.Errorf("the message in flight was not written whole: %d of its bytes", z)
	}
	select {
	case sent := <-pumped:
		if !sent {
			t.Error("writePump reports no close frame sent")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not end after its close frame")
	}
}

// A peer that never reads again is dropped at the deadline of the write
// in progress, within WriteWait of the eviction, without a close frame.
func TestEvictedPeerThatNeverReadsIsDroppedWithinWriteWait(t *testing.T) {
	const writeWait = 300 * time.Millisecond
	start := time.Now()
	_, _, pumped := evictStuck(t, writeWait)
	select {
	case sent := <-pumped:
		if sent {
			t.Error("writePump reports a close frame sent to a peer that never read")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the writer stayed stuck after the eviction")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writer ended %v after the posting began, want about WriteWait (%v)", d, writeWait)
	}
}
