package app_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
	"natter/internal/pgtest"
	"natter/internal/stallproxy"
)

// readUntil reads s until what it received holds marker, and returns
// it all; the socket stays usable (a read that times out would end it).
func readUntil(t *testing.T, s *client.Socket, marker string, within time.Duration) string {
	t.Helper()
	var all strings.Builder
	s.SetReadDeadline(time.Now().Add(within))
	for !strings.Contains(all.String(), marker) {
		_, b, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v; got\n%s", marker, err, all.String())
		}
		all.Write(b)
	}
	return all.String()
}

// from returns what s holds from marker on, or "".
func from(s, marker string) string {
	if i := strings.Index(s, marker); i >= 0 {
		return s[i:]
	}
	return ""
}

// closeOf reads s until it ends and returns its close code and reason.
func closeOf(t *testing.T, s *client.Socket, within time.Duration) (int, string) {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(within))
	var err error
	for err == nil {
		_, _, err = s.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("the socket ended with %v, not a close frame, within %s", err, within)
	}
	return ce.Code, ce.Text
}

// One room, two nodes: alice's socket is on node a, which holds the room,
// bob's on node b, which relays it. Both see the same frames in the same
// order; a message bob posts with the form on b (answered by a) reaches
// alice; bob's room page on b is a's. When a stops, bob's socket gets
// 1012, and reconnecting through b finds the room with every message.
func TestSharedRoomAcrossNodes(t *testing.T) {
	a, _, _, bob, onA, onB := loungeOnTwoNodes(t)
	if err := onA.SendMessage("hello from a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // one after the other, as a user would
	if err := onB.SendMessage("hello from b"); err != nil {
		t.Fatal(err)
	}
	res, err := bob.Submit("/rooms/lounge", "/rooms/lounge/messages", url.Values{"message": {"posted with the form on b"}})
	if err != nil || res.Location != "/rooms/lounge" {
		t.Fatalf("bob's form on b: %+v, %v", res, err)
	}
	// Writes may carry several fragments: what each saw is compared
	// from the first message on (bob joined after alice's snapshot).
	first := `<ol id="messages" hx-swap-oob="beforeend"><li id="msg-3"`
	last := "posted with the form on b"
	sawA, sawB := from(readUntil(t, onA, last, 5*time.Second), first), from(readUntil(t, onB, last, 5*time.Second), first)
	// Up to the last message: a write may carry more after it.
	sawA, sawB = sawA[:strings.Index(sawA, last)], sawB[:strings.Index(sawB, last)]
	if sawA == "" || sawA != sawB {
		t.Fatalf("alice and bob saw different things:\nalice %q\nbob   %q", sawA, sawB)
	}
	all := sawA
	if ia, ib := strings.Index(all, "hello from a"), strings.Index(all, "hello from b"); ia < 0 || ib < ia {
		t.Fatalf("the messages are not there in order: %d %d\n%s", ia, ib, all)
	}

	page, err := bob.Get("/rooms/lounge")
	if err != nil || page.Status != 200 || !strings.Contains(page.Body, "hello from a") || !strings.Contains(page.Body, "posted with the form on b") {
		t.Fatalf("bob's room page on b: %v, status %d", err, page.Status)
	}

	// a stops: b's relayed socket is told to reconnect.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, reason := closeOf(t, onB, 10*time.Second); code != 1012 {
		t.Fatalf("bob's socket on b closed with %d %q when a stopped, want 1012", code, reason)
	}
	again := apptest.Dial(t, bob, "lounge")
	again.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, snap, err := again.ReadMessage()
	if err != nil {
		t.Fatalf("bob reconnecting through b: %v", err)
	}
	for _, text := range []string{"hello from a", "hello from b", "posted with the form on b"} {
		if !strings.Contains(string(snap), text) {
			t.Errorf("the snapshot after the takeover lacks %q:\n%s", text, snap)
		}
	}
}

// A private room stays private from every node: an outsider's page and
// socket on node b are refused as for a room that does not exist, before
// and after node a, which held it, stops.
func TestPrivateRoomStaysPrivateAcrossNodes(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {"den"}, "private": {"1"}})
	if err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice creating den on a: %+v, %v", res, err)
	}
	onA := joined(t, alice, "den")
	if err := onA.SendMessage("secret"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "secret", 5*time.Second)

	outsider := func(when string) {
		t.Helper()
		page, err := bob.Get("/rooms/den")
		if err != nil || page.Status != 404 || strings.Contains(page.Body, "secret") {
			t.Errorf("%s: bob's page of den on b: %v, status %d", when, err, page.Status)
		}
		s, err := bob.Dial("den", nil)
		if err == nil {
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, rerr := s.ReadMessage()
			s.Close()
			if rerr == nil || strings.Contains(string(data), "secret") {
				t.Errorf("%s: bob's socket to den on b was served: %q", when, data)
			}
		}
	}
	outsider("while a holds den")
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	outsider("after a stopped")
}

// Sign-outs reach a relayed socket from the node that holds its session:
// bob's socket on b, relayed to the room a holds, closes with 1008 when
// an admin on a disables him (a leaves it to b, which has the session)
// and when he signs out on b.
func TestSignOutsReachRelayedSockets(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	ana := a.User("ana") // the first account: an admin
	bob, cy := b.User("bob"), b.User("carl")
	joined(t, ana, "lounge") // a holds lounge
	onB := joined(t, bob, "lounge")
	cyOnB := joined(t, cy, "lounge")

	id := strconv.FormatInt(userID(t, a, "bob"), 10)
	if res, err := ana.Submit("/admin", "/admin/users/"+id+"/disable", nil); err != nil || res.Location != "/admin?done=disabled&user="+id {
		t.Fatalf("disable: %+v, %v", res, err)
	}
	if code, reason := closeOf(t, onB, 2*time.Second); code != 1008 || reason != "Your account has been disabled." {
		t.Errorf("bob's relayed socket closed with %d %q, want 1008 for the disable", code, reason)
	}

	page, err := cy.Get("/rooms")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cy.Post("/logout", url.Values{"csrf": {client.CSRF(page.Body)}}); err != nil || res.Status != 303 {
		t.Fatalf("cy signing out on b: %+v, %v", res, err)
	}
	if code, _ := closeOf(t, cyOnB, 2*time.Second); code != 1008 {
		t.Errorf("cy's relayed socket closed with %d after signing out, want 1008", code)
	}
	waitUntil(t, "a serves no relayed socket", func() bool { return a.Rooms().Stats().Connections == 1 })
}

// waitUntil polls cond for up to five seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// The page of a room nobody opened claims it for nothing: the lease goes
// after a while, and the room is made where someone then joins it.
func TestUnusedClaimReleased(t *testing.T) {
	// Long enough that bob's own claim below (on b, released after the
	// same time if no room came of it) makes its room first even on a
	// loaded machine: at 200 ms it once did not, and his join was refused.
	app.SetUnusedLease(t, time.Second)
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	if page, err := alice.Get("/rooms/ghost"); err != nil || page.Status != 404 {
		t.Fatalf("the page of a room nobody opened: %v, status %d", err, page.Status)
	}
	time.Sleep(2500 * time.Millisecond)
	joined(t, bob, "ghost")
	if ra, rb := a.Rooms().Stats().Rooms, b.Rooms().Stats().Rooms; ra != 0 || rb != 1 {
		t.Errorf("after bob joined ghost on b: a has %d rooms, b %d; want the room on b", ra, rb)
	}
}

// The owner cut off from NATS gives its rooms up: node a, which holds the
// room, stops hearing from NATS (a partition); before its lease can
// expire it drops the room, closing alice's socket with 1012, and b's
// relayed socket is closed with 1012 when the lease goes. Both reconnect
// through b, which takes the room over with every acknowledged message.
func TestOwnerCutOffFromNATSHandsRoomOver(t *testing.T) {
	nats := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(nats.URL(), "nats://"))
	dbURL := pgtest.URL(t)
	a := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, "nats://"+proxy.Addr(), "a"
	}))
	t.Cleanup(proxy.Resume) // before a stops: it releases what it can
	b := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), "b"
	}))
	alice, bob := a.User("alice"), b.User("bob")
	aliceOnB := b.SignIn("alice")
	onA := joined(t, alice, "lounge")
	onB := joined(t, bob, "lounge")
	if err := onB.SendMessage("acknowledged before the cut"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "acknowledged before the cut", 5*time.Second)
	readUntil(t, onB, "acknowledged before the cut", 5*time.Second)

	proxy.Stall()
	for who, s := range map[string]*client.Socket{"alice on a": onA, "bob on b": onB} {
		if code, reason := closeOf(t, s, 20*time.Second); code != 1012 {
			t.Errorf("%s: closed with %d %q, want 1012", who, code, reason)
		}
	}
	for who, c := range map[string]*client.Client{"alice": aliceOnB, "bob": bob} {
		s := apptest.Dial(t, c, "lounge")
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, snap, err := s.ReadMessage()
		if err != nil || !strings.Contains(string(snap), "acknowledged before the cut") {
			t.Errorf("%s reconnecting through b: %v, snapshot\n%s", who, err, snap)
		}
	}
}

// Three nodes, one room, everyone typing at once: the messages reach every
// socket in one order, whichever node serves it.
func TestSharedRoomOneOrderOnThreeNodes(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 3)
	names := []string{"alice", "bob", "carl"}
	socks := make([]*client.Socket, 3)
	for i, n := range nodes {
		socks[i] = joined(t, n.User(names[i]), "lounge")
	}
	done := make(chan error, 3)
	for i, s := range socks {
		go func() {
			for k := range 5 {
				if err := s.SendMessage(names[i] + "-says-" + strconv.Itoa(k)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range socks {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	said := regexp.MustCompile(`[a-z]+-says-[0-9]`)
	var orders [3][]string
	for i, s := range socks {
		var all strings.Builder
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		for len(said.FindAllString(all.String(), -1)) < 15 {
			_, b, err := s.ReadMessage()
			if err != nil {
				t.Fatalf("%s's socket: %v after %q", names[i], err, said.FindAllString(all.String(), -1))
			}
			all.Write(b)
		}
		orders[i] = said.FindAllString(all.String(), -1)
	}
	for i := 1; i < 3; i++ {
		if !slices.Equal(orders[i], orders[0]) {
			t.Errorf("%s saw %q,\n%s saw %q", names[i], orders[i], names[0], orders[0])
		}
	}
}

// The lobby lists the rooms of every node: on b, bob sees alpha, which a
// holds, with its member, and general's member, who is on b; alice sees
// the same counts on a; alice's private room shows to her on b, not to
// bob.
func TestLobbyListsEveryNodesRooms(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	joined(t, alice, "alpha") // a holds alpha
	joined(t, bob, "general") // b holds general
	if res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {"den"}, "private": {"1"}}); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice creating den: %+v, %v", res, err)
	}
	aliceOnB := b.SignIn("alice")
	count := regexp.MustCompile(`href="/rooms/([a-z0-9-]+)"[^§]*?data-members="([0-9]+)"`)
	lobby := func(c *client.Client) map[string]string {
		t.Helper()
		page, err := c.Get("/rooms/list")
		if err != nil || page.Status != 200 {
			t.Fatalf("the lobby's list: %v, status %d", err, page.Status)
		}
		out := make(map[string]string)
		for _, m := range count.FindAllStringSubmatch(page.Body, -1) {
			out[m[1]] = m[2]
		}
		return out
	}
	for who, c := range map[string]*client.Client{"bob on b": bob, "alice on a": alice, "alice on b": aliceOnB} {
		got := lobby(c)
		if got["alpha"] != "1" || got["general"] != "1" {
			t.Errorf("%s's lobby: %v, want alpha and general with 1 member each", who, got)
		}
		if _, den := got["den"]; den != (who != "bob on b") {
			t.Errorf("%s's lobby: %v; den listed: %v", who, got, den)
		}
	}
}

// A private room's invitation and removal work from the other node: bob,
// on b, opens alice's link (den is held by a), joins den through b and
// sees alice's message; alice removes him on a, and his socket on b
// closes with the removal's code and reason; his page of den on b is then
// a 404.
func TestInvitationAndRemovalAcrossNodes(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	if res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {"den"}, "private": {"1"}}); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice creating den: %+v, %v", res, err)
	}
	onA := joined(t, alice, "den")
	if err := onA.SendMessage("welcome bob"); err != nil {
		t.Fatal(err)
	}
	page, err := alice.Get("/rooms/den")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`/rooms/den/join/[A-Za-z0-9_-]{43}`).FindString(page.Body)
	if link == "" {
		t.Fatal("no invitation link on alice's page of den")
	}
	if res, err := bob.Submit(link, link, nil); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("bob opening the link on b: %+v, %v", res, err)
	}
	onB := apptest.Dial(t, bob, "den")
	if got := readUntil(t, onB, "welcome bob", 5*time.Second); !strings.Contains(got, "welcome bob") {
		t.Fatalf("bob's socket on b: %q", got)
	}

	id := strconv.FormatInt(userID(t, a, "bob"), 10)
	if res, err := alice.Post("/rooms/den/members/"+id+"/remove", url.Values{"csrf": {client.CSRF(page.Body)}}); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice removing bob on a: %+v, %v", res, err)
	}
	if code, reason := closeOf(t, onB, 5*time.Second); code != 1008 || reason != "You were removed from #den." {
		t.Errorf("bob's socket on b closed with %d %q, want 1008 for the removal", code, reason)
	}
	if page, err := bob.Get("/rooms/den"); err != nil || page.Status != 404 {
		t.Errorf("bob's page of den on b after the removal: %v, status %d", err, page.Status)
	}
}

// watched reads a socket in a goroutine of its own until it ends, keeping
// what it received and how it ended.
type watched struct {
	s    *client.Socket
	mu   sync.Mutex
	got  strings.Builder
	end  error
	done chan struct{}
}

func watch(s *client.Socket) *watched {
	w := &watched{s: s, done: make(chan struct{})}
	s.SetReadDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		defer close(w.done)
		for {
			_, b, err := s.ReadMessage()
			w.mu.Lock()
			if err != nil {
				w.end = err
				w.mu.Unlock()
				return
			}
			w.got.Write(b)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watched) has(marker string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains(w.got.String(), marker)
}

func (w *watched) ended() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.end
}

// The holder's NATS traffic stalls in the middle of a lease renewal: the
// renewal's answer never comes in time, it is tried again, and when the
// stall ends the first renewal is applied late and the second finds the
// revision moved ("wrong last sequence"). The holder keeps the room (its
// lease names it still): ana's socket on it stays open, and her next post
// reaches bob, relayed by the other node (reconnecting once if that node
// closed his socket while the holder was silent), rather than the holder
// dropping the room, making it again without holding its lease and
// refusing every post "Not sent" while both pages say live.
func TestStalledRenewalKeepsTheRoomOnItsHolder(t *testing.T) {
	nats := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(nats.URL(), "nats://"))
	dbURL := pgtest.URL(t)
	b := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, "nats://"+proxy.Addr(), "b"
	}))
	t.Cleanup(proxy.Resume) // before b stops
	a := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), "a"
	}))
	ana, bob := b.User("ana"), a.User("bob")
	anaS := watch(joined(t, ana, "lounge")) // b holds lounge
	bobS := watch(joined(t, bob, "lounge")) // relayed by a
	if err := anaS.s.SendMessage("before the stall"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob sees ana's first post", func() bool { return bobS.has("before the stall") })

	nc, err := natsgo.Connect(nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), "natter_rooms")
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), "lounge", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// A renewal at t0 (every 2 s, each waited for 2 s): stalled from
	// t0+0.2 s, the renewal of t0+2 s gets no answer by t0+4 s and is
	// tried again; the stall ends at t0+4.9 s, before that try gives up.
	select {
	case <-w.Updates():
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal of lounge's lease")
	}
	time.Sleep(200 * time.Millisecond)
	proxy.Stall()
	time.Sleep(4700 * time.Millisecond)
	proxy.Resume()
	time.Sleep(2 * time.Second) // the late renewal, and the next

	if err := anaS.ended(); err != nil {
		t.Fatalf("ana's socket on the holder ended: %v", err)
	}
	if bobS.ended() != nil {
		bobS = watch(joined(t, bob, "lounge"))
	}
	if err := anaS.s.SendMessage("after the stall"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob sees ana's post after the stall", func() bool { return bobS.has("after the stall") })
	waitUntil(t, "ana sees her post after the stall", func() bool { return anaS.has("after the stall") })
	if anaS.has("Not sent") {
		t.Error("ana was told Not sent")
	}
}

// A node that starts while another holds rooms sees their owners at once
// (its watch's first look at the bucket) and serves them: it starts, and
// bob's socket through it reaches alice's room on the holder.
func TestNodeStartsWhileRoomsAreHeld(t *testing.T) {
	nats := natstest.Start(t)
	dbURL := pgtest.URL(t)
	a := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), "a"
	}))
	onA := joined(t, a.User("alice"), "lounge") // a holds lounge
	b := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), "b"
	}))
	onB := joined(t, b.User("bob"), "lounge")
	if err := onA.SendMessage("held before b started"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onB, "held before b started", 5*time.Second)
	if _, _, ok := b.Rooms().Room("lounge"); ok {
		t.Error("b has lounge itself: a holds it")
	}
}
