package cluster_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"natter/chat"
	"natter/cluster"
	"natter/internal/natstest"
)

// published is one message an owner published to a relaying node's
// sockets that carried a frame: for whom, and the frame.
type published struct {
	conns []string
	frame string
}

// spy records, with a NATS client of its own, the frames published on
// node's conn subject (its pings and closes are left out).
type spy struct {
	mu  sync.Mutex
	got []published
}

func spyOn(t *testing.T, url, node string) *spy {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s := &spy{}
	_, err = nc.Subscribe("natter.node."+node+".conn", func(m *nats.Msg) {
		p := published{}
		switch m.Header.Get("Natter-Op") {
		case "text":
			p = published{conns: []string{m.Header.Get("Natter-Conn")}, frame: string(m.Data)}
		case "frames":
			conns, frame, err := cluster.DecodeFrames(m.Data)
			if err != nil {
				t.Errorf("a frames message that does not decode: %v", err)
			}
			p = published{conns: conns, frame: string(frame)}
		default:
			return
		}
		s.mu.Lock()
		s.got = append(s.got, p)
		s.mu.Unlock()
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// carrying returns the messages whose frame holds part.
func (s *spy) carrying(part string) []published {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []published
	for _, p := range s.got {
		if strings.Contains(p.frame, part) {
			out = append(out, p)
		}
	}
	return out
}

// relayMany relays n members' browsers through b's registry to room
// general, held by node a, and waits until each sees the last join.
func relayMany(t *testing.T, regB *chat.Registry, b *cluster.Relays, n int, first int64) []*memSocket {
	t.Helper()
	socks := make([]*memSocket, n)
	for i := range socks {
		m := chat.Member{ID: first + int64(i), Name: fmt.Sprintf("m%d", first+int64(i))}
		socks[i] = relayThrough(t, regB, b, "a", "general", m)
		socks[i].waitFrame(t, m.Name, fmt.Sprintf("joined:%s:%d", m.Name, i+2))
	}
	return socks
}

// With 20 members relayed through node b, each frame the room on a fans
// out is published to b once, for the 20 sockets, and each of the 20
// browsers gets the same frames in the same order as a member on a.
func TestRelayedFrameTravelsOncePerNode(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	regB := chat.New(testChatConfig(), textRenderer{})
	t.Cleanup(regB.Close)
	onB := spyOn(t, srv.URL(), "b")

	anaSock := a.joinLocal(t, "general", ana)
	anaSock.waitFrame(t, "ana", "joined:ana:1")
	const n = 20
	socks := relayMany(t, regB, b, n, 10)
	for i := range 10 {
		anaSock.typed <- fmt.Appendf(nil, "hello %d", i)
	}
	last := fmt.Sprintf("msg:%d:text:ana:hello 9", n+1+10)
	anaSock.waitFrame(t, "ana", last)
	want := anaSock.from(fmt.Sprintf("msg:%d:text:ana:hello 0", n+2))
	for i, s := range socks {
		s.waitFrame(t, fmt.Sprintf("m%d", 10+i), last)
		if got := s.from(want[0]); !slices.Equal(got, want) {
			t.Errorf("m%d saw\n%q\nana saw\n%q", 10+i, got, want)
		}
	}
	for i := range 10 {
		frame := fmt.Sprintf("msg:%d:text:ana:hello %d|", n+2+i, i)
		got := onB.carrying(frame)
		if len(got) != 1 {
			t.Errorf("%q was published to b %d times, want once", frame, len(got))
			continue
		}
		if got[0].frame != frame {
			t.Errorf("published %q, want the frame alone, %q", got[0].frame, frame)
		}
		if conns := slices.Compact(slices.Sorted(slices.Values(got[0].conns))); len(conns) != n || len(got[0].conns) != n {
			t.Errorf("%q was published for %d sockets (%d distinct), want %d", frame, len(got[0].conns), len(conns), n)
		}
	}
	// Each joiner's snapshot went to it alone; each join notice once
	// to the members on b before it.
	if got := onB.carrying("snap:"); len(got) != n {
		t.Errorf("%d snapshots published, want %d", len(got), n)
	}
	for i := 1; i < n; i++ {
		notice := fmt.Sprintf("joined:m%d:%d|", 10+i, i+2)
		if got := onB.carrying(notice); len(got) != 1 || len(got[0].conns) != i+1 {
			t.Errorf("%q published %d times (%v), want once for %d sockets", notice, len(got), got, i+1)
		}
	}
}

// A member on b who types is left out of their own typing line, as on one
// node, while the others on b and a see them: two frames to b (the line
// with them, for the others, and their own), each published once.
func TestRelayedTypingLeavesTheTyperOut(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	regB := chat.New(testChatConfig(), textRenderer{})
	t.Cleanup(regB.Close)
	onB := spyOn(t, srv.URL(), "b")

	anaSock := a.joinLocal(t, "general", ana)
	socks := relayMany(t, regB, b, 3, 10) // m10 types, m11 and m12 watch
	typer, others := socks[0], socks[1:]
	typer.typed <- []byte("/typing")
	for i, s := range others {
		s.waitFrame(t, fmt.Sprintf("m%d", 11+i), "typing:m10")
	}
	anaSock.waitFrame(t, "ana", "typing:m10")
	typer.waitFrame(t, "m10", "typing:")
	// Whatever b was sent for m10 before this message has come.
	typer.typed <- []byte("done")
	for i, s := range append([]*memSocket{typer}, others...) {
		s.waitFrame(t, fmt.Sprintf("m%d", 10+i), "msg:5:text:m10:done")
	}
	if slices.Contains(typer.seen(), "typing:m10") {
		t.Errorf("the typer saw themselves typing: %q", typer.seen())
	}
	if got := onB.carrying("typing:m10|"); len(got) != 1 || len(got[0].conns) != 2 {
		t.Errorf("the line naming m10 was published %v, want once for 2 sockets", got)
	}
	if got := onB.carrying("typing:|"); len(got) != 2 || len(got[0].conns) != 1 || len(got[1].conns) != 3 {
		// The typer's own (empty) line, then the message that ended the
		// typing with the emptied line, for all three.
		t.Errorf("the empty line was published %v, want once for the typer, then with the message for all 3", got)
	}
}

// stalledSocket is a browser that stopped reading and answers nothing:
// each write waits for its deadline and fails, as on a TCP connection
// whose window is full, and a read fails at its deadline.
type stalledSocket struct {
	*memSocket
	mu          sync.Mutex
	read, write time.Time // the deadlines
}

func (s *stalledSocket) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write = t
	return nil
}

func (s *stalledSocket) WriteMessage(int, []byte) error {
	s.mu.Lock()
	dl := s.write
	s.mu.Unlock()
	time.Sleep(time.Until(dl))
	return os.ErrDeadlineExceeded
}

func (s *stalledSocket) WriteControl(_ int, _ []byte, deadline time.Time) error {
	time.Sleep(time.Until(deadline))
	return os.ErrDeadlineExceeded
}

func (s *stalledSocket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read = t
	return nil
}

func (s *stalledSocket) ReadMessage() (int, []byte, error) {
	for {
		s.mu.Lock()
		dl := s.read
		s.mu.Unlock()
		if !dl.IsZero() && time.Now().After(dl) {
			return 0, nil, os.ErrDeadlineExceeded
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A browser on b that stops reading is evicted there, by b's own queue
// limit, as on one node; meanwhile the other members on b, and the member
// on a, get every frame without waiting for it, and once its socket ended
// on b it leaves the room on a.
func TestStalledBrowserOnRelayingNodeIsEvictedThere(t *testing.T) {
	srv := natstest.Start(t)
	cfgA := testChatConfig()
	cfgA.MessageRate, cfgA.MessageBurst = 1000, 1000
	a := startOwnerWith(t, srv.URL(), "a", cfgA)
	b, _ := startRelay(t, srv.URL(), "b")
	const writeWait = 3 * time.Second
	regB := chat.New(chat.Config{
		Grace: 0, PingPeriod: 5 * time.Second, PongWait: 10 * time.Second,
		WriteWait: writeWait, QueueLimit: 64,
	}, textRenderer{})
	t.Cleanup(regB.Close)

	anaSock := a.joinLocal(t, "general", ana)
	socks := relayMany(t, regB, b, 19, 10)
	relaySocket(t, regB, b, "a", "general", chat.Member{ID: 50, Name: "cy"}, &stalledSocket{memSocket: newMemSocket()})
	for _, s := range append(socks, anaSock) {
		s.waitFrame(t, "a member", "joined:cy:21")
	}
	// cy's writer on b waits on the snapshot; the messages fill its queue.
	posted := make([]time.Time, 150)
	for i := range posted {
		posted[i] = time.Now()
		if _, err := a.reg.Post("general", ana, fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Generous on a loaded machine, and well below the stalled write's
	// deadline, which nothing may wait for.
	const bound = time.Second
	for i := range posted {
		frame := fmt.Sprintf("msg:%d:text:ana:hello %d", 22+i, i)
		for j, s := range append(socks, anaSock) {
			s.waitFrame(t, fmt.Sprintf("member %d", j), frame)
			if at, _ := s.arrived(frame); at.Sub(posted[i]) > bound {
				t.Errorf("member %d got %q %v after it was posted, want within %v", j, frame, at.Sub(posted[i]), bound)
			}
		}
	}
	if ev := regB.Counters().Evictions; ev["queue frames"] != 1 || len(ev) != 1 {
		t.Errorf("b evicted %v, want cy alone, for the frames queued", ev)
	}
	if ev := a.reg.Counters().Evictions; len(ev) != 0 {
		t.Errorf("a evicted %v, want nobody", ev)
	}
	// Its writer gives up at its deadline; then its socket ends on b, and
	// cy leaves the room on a.
	anaSock.waitFrame(t, "ana", "left:cy:20")
	for j, s := range socks {
		if code, _ := s.closed(); code != 0 {
			t.Errorf("member %d's socket closed with %d", j, code)
		}
	}
}

// When the frames for a relaying node wait past the link's limit (its
// publisher cannot keep up), the owner does not wait: the node's sockets
// are closed with 1013, as a connection whose queue filled, and their
// members leave, while the member on the owner gets every message.
func TestFullLinkClosesItsSockets(t *testing.T) {
	srv := natstest.Start(t)
	cfgA := testChatConfig()
	cfgA.MessageRate, cfgA.MessageBurst = 1000, 1000
	a := startOwnerWith(t, srv.URL(), "a", cfgA)
	b, _ := startRelay(t, srv.URL(), "b")
	regB := chat.New(testChatConfig(), textRenderer{})
	t.Cleanup(regB.Close)
	anaSock := a.joinLocal(t, "general", ana)
	socks := relayMany(t, regB, b, 3, 10)
	anaSock.waitFrame(t, "ana", "joined:m12:4")

	cluster.SetLinkBytes(t, 4<<10)
	release := cluster.HoldLink(a.relays, "b")
	text := strings.Repeat("x", 1000)
	start := time.Now()
	for i := range 10 {
		if _, err := a.reg.Post("general", ana, fmt.Sprintf("%d %s", i, text)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ten posts took %v with the link full", d)
	}
	// The members on b leave meanwhile: their notices take numbers too.
	waitFor(t, "the last message on ana's screen", func() bool {
		return slices.ContainsFunc(anaSock.seen(), func(f string) bool { return strings.HasSuffix(f, ":text:ana:9 "+text) })
	})
	release()
	for i, s := range socks {
		waitFor(t, "a relayed socket closed", func() bool { code, _ := s.closed(); return code != 0 })
		if code, reason := s.closed(); code != 1013 || reason != "Too slow; reconnect to catch up." {
			t.Errorf("m%d's socket closed with %d %q", 10+i, code, reason)
		}
	}
	waitFor(t, "the three to leave", func() bool {
		_, members, _ := a.reg.Room("general")
		return slices.Equal(members, []chat.Member{ana})
	})
	for _, name := range []string{"m10", "m11", "m12"} {
		if !slices.ContainsFunc(anaSock.seen(), func(f string) bool { return strings.HasPrefix(f, "left:"+name+":") }) {
			t.Errorf("ana was not told that %s left: %q", name, anaSock.seen())
		}
	}
	waitFor(t, "no relayed socket left", func() bool {
		remote, _ := a.relays.Conns()
		_, relayed := b.Conns()
		return remote == 0 && relayed == 0
	})
	n := 0
	for _, f := range anaSock.seen() {
		if strings.Contains(f, ":text:ana:") {
			n++
		}
	}
	if n != 10 {
		t.Errorf("ana saw %d of her messages, want 10", n)
	}
}

// A relaying node of an older version, whose join requests do not say
// that it takes a frame for several sockets in one message, gets one
// message per socket, as before.
func TestOlderRelayingNodeGetsAFramePerSocket(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	anaSock := a.joinLocal(t, "general", ana)
	onOld := spyOn(t, srv.URL(), "old")
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// The older node answers the owner's pings, as Relayed does.
	_, err = nc.Subscribe("natter.node.old.conn", func(m *nats.Msg) {
		if m.Header.Get("Natter-Op") == "ping" {
			pong := nats.NewMsg("natter.node.a.conn")
			pong.Header.Set("Natter-Conn", m.Header.Get("Natter-Conn"))
			pong.Header.Set("Natter-Op", "pong")
			_ = nc.PublishMsg(pong)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, conn := range []string{"old/1", "old/2"} {
		req := fmt.Sprintf(`{"conn":%q,"node":"old","room":"general","member_id":%d,"member_name":"m%d","session":"h"}`, conn, 10+i, 10+i)
		m, err := nc.Request("natter.node.a.join", []byte(req), 5*time.Second)
		if err != nil || string(m.Data) != "{}" {
			t.Fatalf("joining %s: %v %s", conn, err, m.Data)
		}
	}
	anaSock.waitFrame(t, "ana", "joined:m11:3")
	anaSock.typed <- []byte("hello")
	anaSock.waitFrame(t, "ana", "msg:4:text:ana:hello")
	frame := "msg:4:text:ana:hello|"
	waitFor(t, "the message on the older node", func() bool { return len(onOld.carrying(frame)) == 2 })
	var conns []string
	for _, p := range onOld.carrying(frame) {
		if p.frame != frame || len(p.conns) != 1 {
			t.Errorf("published %v, want %q for one socket", p, frame)
		}
		conns = append(conns, p.conns...)
	}
	if slices.Sort(conns); !slices.Equal(conns, []string{"old/1", "old/2"}) {
		t.Errorf("published for %q", conns)
	}
}
