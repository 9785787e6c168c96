package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/chat"
	"natter/cluster"
	"natter/internal/natstest"
)

// textRenderer renders each room event as a short text ended by "|".
type textRenderer struct{}

func (textRenderer) Message(room string, m chat.Message) []byte {
	return fmt.Appendf(nil, "msg:%d:%s:%s:%s|", m.Seq, m.Kind, m.Author.Name, m.Text)
}
func (textRenderer) MemberJoined(room string, m chat.Member, n int) []byte {
	return fmt.Appendf(nil, "joined:%s:%d|", m.Name, n)
}
func (textRenderer) MemberLeft(room string, m chat.Member, n int) []byte {
	return fmt.Appendf(nil, "left:%s:%d|", m.Name, n)
}
func (textRenderer) Snapshot(room string, history []chat.Message, members []chat.Member) []byte {
	var names []string
	for _, m := range members {
		names = append(names, m.Name)
	}
	return fmt.Appendf(nil, "snap:%d:%s|", len(history), strings.Join(names, ","))
}
func (textRenderer) Update(room string, m chat.Message) []byte {
	return fmt.Appendf(nil, "update:%d|", m.Seq)
}
func (textRenderer) Reactions(room string, m chat.Message) []byte {
	return fmt.Appendf(nil, "react:%d|", m.Seq)
}
func (textRenderer) Typing(room string, names []string) []byte {
	return fmt.Appendf(nil, "typing:%s|", strings.Join(names, "+"))
}
func (textRenderer) Mentioned(room string, m chat.Message) []byte { return nil }

// screen is what one member's browser shows: the frames it received, in
// order, and how its socket was closed.
type screen struct {
	mu     sync.Mutex
	frames []string
	at     []time.Time // when each frame came
	code   int
	reason string
}

func (s *screen) add(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for f := range strings.SplitSeq(string(data), "|") {
		if f != "" {
			s.frames = append(s.frames, f)
			s.at = append(s.at, now)
		}
	}
}

// arrived returns when frame f came first, if it did.
func (s *screen) arrived(f string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.frames, f); i >= 0 {
		return s.at[i], true
	}
	return time.Time{}, false
}

func (s *screen) closeWith(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.code == 0 {
		s.code, s.reason = code, reason
	}
}

func (s *screen) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames)
}

func (s *screen) closed() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.reason
}

// waitFrame waits until the screen shows want.
func (s *screen) waitFrame(t *testing.T, who, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q on %s's screen", want, who), func() bool { return slices.Contains(s.seen(), want) })
}

// from returns the frames from the first that is first on.
func (s *screen) from(first string) []string {
	f := s.seen()
	if i := slices.Index(f, first); i >= 0 {
		return f[i:]
	}
	return nil
}

// browserSink is a browser's socket on the relaying node.
type browserSink struct{ *screen }

func (b browserSink) Frame(data []byte)             { b.add(data) }
func (b browserSink) Close(code int, reason string) { b.closeWith(code, reason) }

// memSocket is a browser's socket on the owner: chat reads what the test
// types and writes to the screen.
type memSocket struct {
	*screen
	typed chan []byte
	done  chan struct{}
	once  sync.Once
}

func newMemSocket() *memSocket {
	return &memSocket{screen: &screen{}, typed: make(chan []byte, 16), done: make(chan struct{})}
}

func (m *memSocket) ReadMessage() (int, []byte, error) {
	select {
	case b := <-m.typed:
		return chat.TextMessage, b, nil
	case <-m.done:
		return 0, nil, io.EOF
	}
}
func (m *memSocket) SetReadDeadline(time.Time) error       { return nil }
func (m *memSocket) SetReadLimit(int64)                    {}
func (m *memSocket) SetPongHandler(func(string) error)     {}
func (m *memSocket) SetWriteDeadline(time.Time) error      { return nil }
func (m *memSocket) WriteMessage(_ int, data []byte) error { m.add(data); return nil }
func (m *memSocket) WriteControl(kind int, data []byte, _ time.Time) error {
	if kind == chat.CloseMessage {
		m.closeWith(int(data[0])<<8|int(data[1]), string(data[2:]))
		m.once.Do(func() { close(m.done) })
	}
	return nil
}

// owner is a node that owns rooms: its registry and relays.
type owner struct {
	reg    *chat.Registry
	relays *cluster.Relays
	conn   *cluster.Conn
}

// testChatConfig pings every 100 ms and gives a peer 300 ms to answer.
func testChatConfig() chat.Config {
	return chat.Config{Grace: 0, PingPeriod: 100 * time.Millisecond, PongWait: 300 * time.Millisecond}
}

// serve posts what the member types, as the handlers do; "/typing" says
// that the member types.
func serve(c *chat.Client, s chat.Socket) {
	c.Serve(s, func(text []byte, _ int) bool {
		if string(text) == "/typing" {
			_ = c.Typing()
			return false
		}
		_, err := c.Post(string(text))
		return errors.Is(err, chat.ErrRateLimited)
	})
}

func startOwner(t *testing.T, url, name string) *owner {
	t.Helper()
	return startOwnerWith(t, url, name, testChatConfig())
}

// startOwnerWith is startOwner with the registry's configuration.
func startOwnerWith(t *testing.T, url, name string, cfg chat.Config) *owner {
	t.Helper()
	conn, log := connectNode(t, url, name)
	o := &owner{reg: chat.New(cfg, textRenderer{}), conn: conn}
	t.Cleanup(o.reg.Close)
	var err error
	o.relays, err = cluster.NewRelays(conn, name, func(req cluster.JoinRequest, sock *cluster.RemoteSocket) error {
		c, err := o.reg.JoinRemote(req.Room, chat.Member{ID: req.MemberID, Name: req.MemberName}, req.Session, sock.Link(), sock.ID())
		if err != nil {
			return &cluster.Refused{Code: chat.CloseCodeFor(err), Reason: err.Error()}
		}
		go func() {
			serve(c, sock)
			sock.Close()
		}()
		return nil
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// joinLocal connects member m's browser to the owner's room directly.
func (o *owner) joinLocal(t *testing.T, slug string, m chat.Member) *memSocket {
	t.Helper()
	c, err := o.reg.Join(slug, m, "sid-"+m.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := newMemSocket()
	go serve(c, s)
	return s
}

// startRelay is a node that owns nothing and relays its sockets.
func startRelay(t *testing.T, url, name string) (*cluster.Relays, *cluster.Conn) {
	t.Helper()
	conn, log := connectNode(t, url, name)
	r, err := cluster.NewRelays(conn, name, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return r, conn
}

// joinRelayed connects member m's browser, on the relaying node r, to
// the room that node owner owns.
func joinRelayed(t *testing.T, r *cluster.Relays, ownerNode, slug string, m chat.Member) (*cluster.Relayed, *screen) {
	t.Helper()
	s := &screen{}
	rl, err := r.Join(context.Background(), ownerNode, cluster.JoinRequest{
		Room: slug, MemberID: m.ID, MemberName: m.Name, Session: "sid-" + m.Name,
	}, browserSink{s})
	if err != nil {
		t.Fatal(err)
	}
	return rl, s
}

var (
	ana = chat.Member{ID: 1, Name: "ana"}
	bo  = chat.Member{ID: 2, Name: "bo"}
)

// A member whose browser is on node b chats in a room that node a owns
// with a member on a: both see the same frames in the same order, each
// message once.
func TestRelayedMemberChatsInOrder(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")

	anaSock := a.joinLocal(t, "general", ana)
	anaSock.waitFrame(t, "ana", "joined:ana:1")
	rl, boScreen := joinRelayed(t, b, "a", "general", bo)
	boScreen.waitFrame(t, "bo", "joined:bo:2")
	if got := boScreen.seen()[0]; got != "snap:1:ana" {
		t.Errorf("bo's first frame: %q, want the snapshot of the room as it was", got)
	}
	anaSock.waitFrame(t, "ana", "joined:bo:2")

	// Both type at once, ten messages each.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 10 {
			anaSock.typed <- fmt.Appendf(nil, "ana %d", i)
		}
	})
	wg.Go(func() {
		for i := range 10 {
			if err := rl.Send(fmt.Appendf(nil, "bo %d", i)); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	anaSock.waitFrame(t, "ana", "msg:22:text:bo:bo 9")
	boScreen.waitFrame(t, "bo", "msg:22:text:bo:bo 9")
	anaSaw, boSaw := anaSock.from("msg:2:join:bo:"), boScreen.from("msg:2:join:bo:")
	if !slices.Equal(anaSaw, boSaw) {
		t.Errorf("ana and bo saw different things:\nana %q\nbo  %q", anaSaw, boSaw)
	}
	// Each message once, numbered in one order; each member's own in the
	// order they were typed.
	var texts []string
	for i, f := range boSaw[2:] {
		var seq int
		var text string
		if _, err := fmt.Sscanf(f, "msg:%d:text:", &seq); err != nil || seq != i+3 {
			t.Fatalf("frame %d after bo joined: %q, want message %d", i+2, f, i+3)
		}
		text = f[strings.LastIndex(f, ":")+1:]
		texts = append(texts, text)
	}
	for _, who := range []string{"ana", "bo"} {
		var mine []string
		for _, text := range texts {
			if strings.HasPrefix(text, who+" ") {
				mine = append(mine, text)
			}
		}
		want := make([]string, 10)
		for i := range want {
			want[i] = fmt.Sprintf("%s %d", who, i)
		}
		if !slices.Equal(mine, want) {
			t.Errorf("%s's messages: %q, want %q", who, mine, want)
		}
	}
}

// What the owner closes, the relaying node closes with the same code and
// reason; what the browser closes on the relaying node leaves the room on
// the owner. Neither side keeps the connection.
func TestRelayedSocketsClose(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	anaSock := a.joinLocal(t, "general", ana)

	_, boScreen := joinRelayed(t, b, "a", "general", bo)
	anaSock.waitFrame(t, "ana", "joined:bo:2")
	a.reg.CloseUser(bo.ID, "", chat.ClosePolicyViolation, "Your account has been disabled.")
	waitFor(t, "bo's socket closed", func() bool { code, _ := boScreen.closed(); return code != 0 })
	if code, reason := boScreen.closed(); code != 1008 || reason != "Your account has been disabled." {
		t.Errorf("bo's socket closed with %d %q", code, reason)
	}
	anaSock.waitFrame(t, "ana", "left:bo:1")
	waitFor(t, "no relayed connection left", func() bool {
		remote, _ := a.relays.Conns()
		_, relayed := b.Conns()
		return remote == 0 && relayed == 0
	})

	rl, boScreen := joinRelayed(t, b, "a", "general", bo)
	anaSock.waitFrame(t, "ana", "msg:4:join:bo:")
	rl.Close()
	anaSock.waitFrame(t, "ana", "msg:5:leave:bo:")
	waitFor(t, "no relayed connection left", func() bool {
		remote, _ := a.relays.Conns()
		_, relayed := b.Conns()
		return remote == 0 && relayed == 0
	})
	if code, _ := boScreen.closed(); code != 0 {
		t.Errorf("the browser that closed its socket was closed again by the relay (%d)", code)
	}
	if err := rl.Send([]byte("after")); err == nil {
		t.Error("Send after Close did not fail")
	}
}

// The owner's refusal reaches the relaying node as a close code and
// reason; a node that owns nothing, or is not there, refuses too.
func TestRelayedJoinRefused(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	c, _ := startRelay(t, srv.URL(), "c")

	a.reg.Close()
	_, err := b.Join(context.Background(), "a", cluster.JoinRequest{Room: "general", MemberID: 2, MemberName: "bo"}, browserSink{&screen{}})
	var refused *cluster.Refused
	if !errors.As(err, &refused) || refused.Code != 1012 || refused.Reason != chat.ErrClosed.Error() {
		t.Errorf("joining a closed registry: %v", err)
	}
	_, err = b.Join(context.Background(), "c", cluster.JoinRequest{Room: "general", MemberID: 2, MemberName: "bo"}, browserSink{&screen{}})
	if !errors.As(err, &refused) || refused.Code != 1012 || refused.Reason != "Reconnecting to the other servers." {
		t.Errorf("joining through a node that owns nothing: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = b.Join(ctx, "nobody.example.com", cluster.JoinRequest{Room: "general", MemberID: 2, MemberName: "bo"}, browserSink{&screen{}})
	if err == nil || errors.As(err, &refused) || !strings.HasPrefix(err.Error(), "NATS: joining room general on node nobody.example.com: ") {
		t.Errorf("joining on a node that is not there: %v", err)
	}
	if _, relayed := b.Conns(); relayed != 0 {
		t.Errorf("%d relayed connections kept after refusals", relayed)
	}
	if remote, _ := c.Conns(); remote != 0 {
		t.Errorf("c keeps %d remote connections", remote)
	}
}

// The relaying node answers the owner's pings, so a quiet member stays;
// when that node dies, the owner's read deadline notices it and the
// member leaves the room.
func TestOwnerNoticesADeadRelayingNode(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, bConn := startRelay(t, srv.URL(), "b")
	anaSock := a.joinLocal(t, "general", ana)
	joinRelayed(t, b, "a", "general", bo)
	anaSock.waitFrame(t, "ana", "joined:bo:2")

	time.Sleep(time.Second) // ten pings, with a PongWait of 300 ms
	if f := anaSock.from("left:bo:1"); f != nil {
		t.Fatalf("bo left while b answered the pings: %q", anaSock.seen())
	}
	cluster.Kill(bConn)
	killed := time.Now()
	anaSock.waitFrame(t, "ana", "left:bo:1")
	if d := time.Since(killed); d > time.Second {
		t.Errorf("bo left %v after b died, want within PongWait and a ping", d)
	}
	waitFor(t, "a to forget bo's connection", func() bool { remote, _ := a.relays.Conns(); return remote == 0 })
}

// A connection the owner no longer knows (it restarted) is closed on the
// relaying node with 1012 as soon as the browser sends on it, so the
// browser reconnects.
func TestUnknownRelayedSocketIsClosed(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	rl, boScreen := joinRelayed(t, b, "a", "general", bo)
	boScreen.waitFrame(t, "bo", "joined:bo:1")

	cluster.Kill(a.conn)
	startOwner(t, srv.URL(), "a") // the same node, started again
	if err := rl.Send([]byte("hello?")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bo's socket closed", func() bool { code, _ := boScreen.closed(); return code != 0 })
	if code, reason := boScreen.closed(); code != 1012 || reason != "Reconnecting to the other servers." {
		t.Errorf("bo's socket closed with %d %q", code, reason)
	}
	if _, relayed := b.Conns(); relayed != 0 {
		t.Errorf("b keeps %d relayed connections", relayed)
	}
}

// When the owner of a room dies, its lease expires and the relaying node
// closes the sockets it relayed to that room with 1012, so that the
// browsers reconnect and join the room where it is held next.
func TestRelayedSocketsCloseWhenTheOwnerDies(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	aLeases := startOwners(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	bLeases := startOwners(t, srv.URL(), "b", func(slug, owner string) { b.OwnerChanged(slug, owner) })
	if got := aLeases.claim(t, "general"); got != "a" {
		t.Fatalf("a claims general: owner %s", got)
	}
	bLeases.waitEvent(t, "owner general a")
	_, boScreen := joinRelayed(t, b, "a", "general", bo)
	_, alsoScreen := joinRelayed(t, b, "a", "general", chat.Member{ID: 3, Name: "cy"})
	_, elsewhere := joinRelayed(t, b, "a", "programming", chat.Member{ID: 4, Name: "di"})
	boScreen.waitFrame(t, "bo", "joined:cy:2")

	cluster.Kill(a.conn)
	cluster.Kill(aLeases.conn)
	bLeases.waitEvent(t, "owner general -")
	for who, s := range map[string]*screen{"bo": boScreen, "cy": alsoScreen} {
		if code, reason := s.closed(); code != 1012 || reason != "Reconnecting to the other servers." {
			t.Errorf("%s's socket: closed with %d %q, want 1012", who, code, reason)
		}
	}
	// Only general's owner changed: the socket relayed to another room
	// stays (in this test that room has no lease in the bucket at all).
	if code, _ := elsewhere.closed(); code != 0 {
		t.Errorf("di's socket in another room closed with %d", code)
	}
	if _, relayed := b.Conns(); relayed != 1 {
		t.Errorf("b keeps %d relayed connections, want di's alone", relayed)
	}
}

// clientBrowser is the glue a relaying node puts between its registry's
// relayed connection and the relay: what the owner sends is queued to the
// connection, and the owner's close closes it.
type clientBrowser struct{ c *chat.Client }

func (b clientBrowser) Frame(data []byte)             { b.c.Send(data) }
func (b clientBrowser) Close(code int, reason string) { b.c.Close(code, reason) }

// relayThrough serves member m's browser socket on the relaying node:
// a connection of reg (Registry.Relay) relayed to the room's owner.
func relayThrough(t *testing.T, reg *chat.Registry, r *cluster.Relays, ownerNode, slug string, m chat.Member) *memSocket {
	t.Helper()
	s := newMemSocket()
	relaySocket(t, reg, r, ownerNode, slug, m, s)
	return s
}

// relaySocket is relayThrough with the browser's socket s.
func relaySocket(t *testing.T, reg *chat.Registry, r *cluster.Relays, ownerNode, slug string, m chat.Member, s chat.Socket) {
	t.Helper()
	c, err := reg.Relay(slug, m, "sid-"+m.Name)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := r.Join(context.Background(), ownerNode, cluster.JoinRequest{
		Room: slug, MemberID: m.ID, MemberName: m.Name, Session: "sid-" + m.Name,
	}, clientBrowser{c})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Serve(s, func(text []byte, _ int) bool { return rl.Send(text) != nil })
		rl.Close()
	}()
}

// Two nodes, each with its registry: bo's browser is on b, whose registry
// relays it to the room a holds. Both members see the same frames; a
// sign-out on b closes bo's socket there and bo leaves the room on a.
func TestTwoRegistriesShareARoom(t *testing.T) {
	srv := natstest.Start(t)
	a := startOwner(t, srv.URL(), "a")
	b, _ := startRelay(t, srv.URL(), "b")
	regB := chat.New(testChatConfig(), textRenderer{})
	t.Cleanup(regB.Close)

	anaSock := a.joinLocal(t, "general", ana)
	boSock := relayThrough(t, regB, b, "a", "general", bo)
	boSock.waitFrame(t, "bo", "joined:bo:2")
	anaSock.typed <- []byte("hello bo")
	boSock.typed <- []byte("hello ana")
	anaSock.waitFrame(t, "ana", "msg:4:text:bo:hello ana")
	boSock.waitFrame(t, "bo", "msg:4:text:bo:hello ana")
	if anaSaw, boSaw := anaSock.from("msg:2:join:bo:"), boSock.from("msg:2:join:bo:"); !slices.Equal(anaSaw, boSaw) {
		t.Errorf("ana and bo saw different things:\nana %q\nbo  %q", anaSaw, boSaw)
	}
	if st := regB.Stats(); st.Connections != 1 || st.Rooms != 0 || st.Members != 0 {
		t.Errorf("b's registry: %+v, want one connection in no room", st)
	}

	// A notice for bo (from another room, a direct message) is delivered
	// by b, where his browser is, and not again by a.
	if n := a.reg.SendUser(bo.ID, []byte("notice|")); n != 0 {
		t.Errorf("a queued a notice to %d of bo's connections, want none", n)
	}
	if n := regB.SendUser(bo.ID, []byte("notice|")); n != 1 {
		t.Errorf("b queued a notice to %d of bo's connections, want 1", n)
	}
	boSock.waitFrame(t, "bo", "notice")

	regB.CloseSession("sid-bo", chat.ClosePolicyViolation, "Signed out.")
	waitFor(t, "bo's socket closed", func() bool { code, _ := boSock.closed(); return code != 0 })
	if code, reason := boSock.closed(); code != 1008 || reason != "Signed out." {
		t.Errorf("bo's socket closed with %d %q", code, reason)
	}
	anaSock.waitFrame(t, "ana", "left:bo:1")
	waitFor(t, "no connection left for bo", func() bool {
		remote, _ := a.relays.Conns()
		_, relayed := b.Conns()
		return remote == 0 && relayed == 0 && regB.Stats().Connections == 0
	})
	if n := slices.Index(boSock.seen(), "notice"); n < 0 || slices.Contains(boSock.seen()[n+1:], "notice") {
		t.Errorf("bo saw the notice other than once: %q", boSock.seen())
	}
}

// A relaying node that sends more than the owner reads is cut off, and
// its browser hears why.
func TestRelayedFloodIsClosed(t *testing.T) {
	srv := natstest.Start(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := cluster.Connect(context.Background(), srv.URL(), "a", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// An owner that joins and never reads.
	stuck, err := cluster.NewRelays(conn, "a", func(cluster.JoinRequest, *cluster.RemoteSocket) error { return nil }, log)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := startRelay(t, srv.URL(), "b")
	rl, boScreen := joinRelayed(t, b, "a", "general", bo)
	for i := range 100 {
		if rl.Send(fmt.Appendf(nil, "%d", i)) != nil {
			break // closed already
		}
	}
	waitFor(t, "bo's socket closed", func() bool { code, _ := boScreen.closed(); return code != 0 })
	if code, reason := boScreen.closed(); code != 1008 || reason != "Too many messages too fast." {
		t.Errorf("bo's socket closed with %d %q", code, reason)
	}
	if remote, _ := stuck.Conns(); remote != 1 {
		t.Errorf("the owner holds %d remote connections, want 1 until its Serve ends", remote)
	}
}
