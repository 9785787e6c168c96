package app_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
	"natter/internal/pgtest"
	"natter/internal/testlog"
)

// The failure drills of issue 15 (docs/shared-rooms.md).

// drillNode is the child process of startNodeProcess: app.Run with the
// environment it was given, until SIGTERM (or SIGKILL).
func drillNode() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, nil, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "natter:", err)
		return 1
	}
	return 0
}

// startNodeProcess runs node name in a process of its own (this test
// binary in drill mode) on the PostgreSQL at dbURL and the NATS server
// nats, and returns its base URL once it is ready, with the process.
func startNodeProcess(t *testing.T, name, dbURL string, nats *natstest.Server) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATTER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NATTER_DRILL_NODE=1", "NATTER_ADDR="+addr, "NATTER_BASE_URL=http://"+addr,
		"NATTER_DB="+filepath.Join(t.TempDir(), "natter.db"), "NATTER_DATABASE_URL="+dbURL,
		"NATTER_NATS_URL="+nats.URL(), "NATTER_NODE="+name)
	logs := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("node %s's log:\n%s", name, logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return base, cmd
			}
		}
		select {
		case <-exited:
			t.Fatalf("node %s exited at start:\n%s", name, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s was not ready within 20 s:\n%s", name, logs.String())
		}
	}
}

// signIn signs name in on the node at base.
func signIn(t *testing.T, base, name string) *client.Client {
	t.Helper()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(name, apptest.Password); err != nil {
		t.Fatalf("%s signing in on %s: %v", name, base, err)
	}
	return c
}

// Drill: kill -9 of the node holding a room. Node a, a process of its
// own, holds lounge; bob's socket is relayed to it by node b. alice's and
// bob's messages are acknowledged (each sees its own); a is killed with
// SIGKILL; bob's relayed socket is closed with 1012 once a's lease (8 s)
// expires; alice and bob reconnect through b, whose snapshot holds every
// acknowledged message, and a new post reaches both.
func TestDrillOwnerKilled(t *testing.T) {
	nats := natstest.Start(t)
	dbURL := pgtest.URL(t)
	b := apptest.Start(t, apptest.Config(func(c *app.Config) {
		c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), "b"
	}))
	bob := b.User("bob")
	b.User("alice")
	baseA, procA := startNodeProcess(t, "a", dbURL, nats)
	alice := signIn(t, baseA, "alice")

	onA := joined(t, alice, "lounge") // a holds lounge
	onB := joined(t, bob, "lounge")   // relayed by b to a
	if err := onA.SendMessage("alice before the kill"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "alice before the kill", 5*time.Second)
	if err := onB.SendMessage("bob before the kill"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onB, "bob before the kill", 5*time.Second)
	readUntil(t, onA, "bob before the kill", 5*time.Second)
	if _, _, ok := b.Rooms().Room("lounge"); ok {
		t.Fatal("b has lounge itself: a does not hold it")
	}

	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// The lease is 8 s: the close comes after it expires, on a loaded
	// machine with a margin.
	if code, reason := closeOf(t, onB, 20*time.Second); code != 1012 {
		t.Fatalf("bob's relayed socket closed with %d %q after a was killed, want 1012", code, reason)
	}
	t.Logf("bob's socket got 1012 %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	aliceOnB := signIn(t, b.URL, "alice")
	socks := map[string]*client.Socket{}
	for who, c := range map[string]*client.Client{"alice": aliceOnB, "bob": bob} {
		s := apptest.Dial(t, c, "lounge")
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, snap, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("%s reconnecting through b: %v", who, err)
		}
		for _, text := range []string{"alice before the kill", "bob before the kill"} {
			if !strings.Contains(string(snap), text) {
				t.Errorf("%s's snapshot on b lacks the acknowledged %q:\n%s", who, text, snap)
			}
		}
		socks[who] = s
	}
	if err := socks["alice"].SendMessage("alice after the kill"); err != nil {
		t.Fatal(err)
	}
	for who, s := range socks {
		readUntil(t, s, "alice after the kill", 5*time.Second)
		_ = who
	}
}

// Drill: grace and destroy raced across nodes. alice, on node a which
// holds her room den, leaves it; during the grace period bob joins through
// node b: den and its history survive the grace period. Once bob leaves
// too, nobody comes back: one grace period later den is destroyed, its
// history purged: the lobby no longer lists it and carl, joining den
// through b, finds a new empty room.
func TestDrillGraceRacedAcrossNodes(t *testing.T) {
	const grace = 5 * time.Second
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2, apptest.Config(func(c *app.Config) { c.RoomGrace = grace }))
	a, b := nodes[0], nodes[1]
	alice, bob, carl := a.User("alice"), b.User("bob"), b.User("carl")
	if res, err := alice.Submit("/rooms", "/rooms", url.Values{"name": {"den"}}); err != nil || res.Location != "/rooms/den" {
		t.Fatalf("alice creating den on a: %+v, %v", res, err)
	}
	onA := joined(t, alice, "den")
	if err := onA.SendMessage("said before leaving"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "said before leaving", 5*time.Second)
	onA.Close()
	left := time.Now()
	waitUntil(t, "a counts alice's socket gone", func() bool { return a.Rooms().Stats().Connections == 0 })

	onB := apptest.Dial(t, bob, "den")
	onB.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, snap, err := onB.ReadMessage()
	if err != nil {
		t.Fatalf("bob joining den through b: %v", err)
	}
	if time.Since(left) >= grace {
		t.Fatalf("bob joined %s after alice left, not within the grace period (%s): the machine is too slow for this test", time.Since(left), grace)
	}
	if !strings.Contains(string(snap), "said before leaving") {
		t.Fatalf("bob's snapshot of den during the grace period lacks alice's message:\n%s", snap)
	}
	// Past alice's grace period: the room is still there, with bob in it.
	time.Sleep(time.Until(left.Add(grace + time.Second)))
	if err := onB.SendMessage("den survived"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onB, "den survived", 5*time.Second)
	history, _, ok := a.Rooms().Room("den")
	var texts []string
	for _, m := range history {
		if m.Text != "" {
			texts = append(texts, m.Text)
		}
	}
	if !ok || !slices.Equal(texts, []string{"said before leaving", "den survived"}) {
		t.Fatalf("after the grace period: den on a: held %v, messages %q; want alice's and bob's", ok, texts)
	}

	onB.Close()
	listed := func() bool {
		page, err := bob.Get("/rooms/list")
		if err != nil || page.Status != 200 {
			t.Fatalf("the lobby's list: %v, status %d", err, page.Status)
		}
		return strings.Contains(page.Body, `href="/rooms/den"`)
	}
	if !listed() {
		t.Fatal("den is not listed in bob's lobby on b while its grace period runs")
	}
	gone := time.Now()
	for listed() {
		if time.Since(gone) > grace+10*time.Second {
			t.Fatalf("den still listed %s after its last member left (grace %s)", time.Since(gone), grace)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, ok := a.Rooms().Room("den"); ok {
		t.Error("den unlisted but still on a")
	}
	fresh := apptest.Dial(t, carl, "den")
	fresh.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, snap, err = fresh.ReadMessage()
	if err != nil {
		t.Fatalf("carl joining den through b: %v", err)
	}
	if err := fresh.SendMessage("a new den"); err != nil {
		t.Fatal(err)
	}
	got := string(snap) + readUntil(t, fresh, "a new den", 5*time.Second)
	if strings.Contains(got, "said before leaving") || strings.Contains(got, "den survived") {
		t.Errorf("the destroyed den's history came back:\n%s", got)
	}
}

// Drill: NATS restarted under load. alice (on node a, which holds lounge)
// and bob (relayed by node b) post all the time; the NATS server stops
// and, a moment later, starts again on the same port. Every socket is
// told (closed with 1012, or an error frame saying the post was not
// sent), and nothing posted while NATS was away is shown as sent. The
// nodes recover by themselves: new sockets join, their posts are
// acknowledged and seen on both nodes.
//
// What is lost: NATS keeps the history and settings in memory, so a
// restart of the (single) NATS server loses every room's history, as the
// README says; the room is made anew, empty, when it is next joined.
func TestDrillNATSRestartedUnderLoad(t *testing.T) {
	nats := natstest.Start(t)
	// At the default message rate (10/s, burst 20): posts that waited for
	// the broker, or were refused while it was away, are not "too fast".
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	socks := map[string]*client.Socket{"alice": joined(t, alice, "lounge")} // a holds lounge
	socks["bob"] = joined(t, bob, "lounge")                                 // relayed by b
	if _, _, ok := b.Rooms().Room("lounge"); ok {
		t.Fatal("b has lounge itself: a does not hold it")
	}

	// Each user posts name-posts-N every 100 ms until stop; sent records when.
	var mu sync.Mutex
	sent := map[string]time.Time{}
	stop := make(chan struct{})
	var posting sync.WaitGroup
	for name, s := range socks {
		posting.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				text := fmt.Sprintf("%s-posts-%d", name, n)
				mu.Lock()
				sent[text] = time.Now()
				mu.Unlock()
				if s.SendMessage(text) != nil {
					return // the socket ended
				}
			}
		})
	}
	// Each socket is read until it ends: what it showed as messages, and
	// how it was told.
	type seen struct {
		at   time.Time
		text string
	}
	type outcome struct {
		shown                []seen
		notSent              time.Time // the first "Not sent" error frame
		tooFast              int       // "too fast" error frames
		closeCode            int
		closeReason, readErr string
	}
	results := map[string]*outcome{}
	said := regexp.MustCompile(`(?:alice|bob)-posts-[0-9]+`)
	var reading sync.WaitGroup
	for name, s := range socks {
		o := &outcome{}
		results[name] = o
		reading.Go(func() {
			s.SetReadDeadline(time.Now().Add(60 * time.Second))
			for {
				_, data, err := s.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						o.closeCode, o.closeReason = ce.Code, ce.Text
					} else {
						o.readErr = err.Error()
					}
					return
				}
				now := time.Now()
				for _, li := range strings.Split(string(data), `<li id="msg-`)[1:] {
					li, _, _ = strings.Cut(li, "</li>")
					for _, text := range said.FindAllString(li, -1) {
						o.shown = append(o.shown, seen{now, text})
					}
				}
				if o.notSent.IsZero() && strings.Contains(string(data), "Not sent: reconnecting to the other servers") {
					o.notSent = now
				}
				if strings.Contains(string(data), "You are sending messages too fast") {
					o.tooFast++
				}
			}
		})
	}

	time.Sleep(500 * time.Millisecond) // under load
	nats.Shutdown()
	down := time.Now()
	time.Sleep(3 * time.Second) // NATS away, posts going on
	nats.Restart()
	up := time.Now()
	// Users are told within a bounded time: a socket that is neither
	// closed nor told by then fails the test.
	for _, s := range socks {
		s.SetReadDeadline(up.Add(20 * time.Second))
	}
	reading.Wait()
	close(stop)
	posting.Wait()

	for name, o := range results {
		told := o.closeCode == 1012 || !o.notSent.IsZero()
		if !told {
			t.Errorf("%s's socket was not told NATS was away: close %d %q, read error %q, no error frame", name, o.closeCode, o.closeReason, o.readErr)
		}
		if o.tooFast > 0 {
			t.Errorf("%s, posting every 100 ms, was told %d times that they send too fast", name, o.tooFast)
		}
		t.Logf("%s: close %d %q (read error %q), error frame %v, %d messages shown",
			name, o.closeCode, o.closeReason, o.readErr, !o.notSent.IsZero(), len(o.shown))
	}

	// The nodes recover by themselves.
	for _, n := range nodes {
		waitReadyz(t, func() (int, string) {
			st, _, body := apptest.Get(t, n.URL+"/readyz")
			return st, body
		}, 200)
	}
	onA, snap := joinSoon(t, alice, "lounge")
	onB, _ := joinSoon(t, bob, "lounge")
	// A message shown as sent after NATS went away was stored by the NATS
	// that came back (a publish the client held while reconnecting); one
	// shown before is lost with the old server's memory.
	mu.Lock()
	lost := 0
	for name, o := range results {
		for _, m := range o.shown {
			kept := strings.Contains(snap, m.text+"<") || strings.Contains(snap, m.text+"\n")
			if at := sent[m.text]; at.After(down) && !kept {
				t.Errorf("%s's socket showed %s, posted %s after NATS went away, as sent, but it is not in the room now", name, m.text, at.Sub(down))
			}
			if !kept {
				lost++
			}
		}
	}
	mu.Unlock()
	t.Logf("%d messages shown before the restart are gone with NATS's memory", lost)
	if err := onB.SendMessage("bob after the restart"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onB, "bob after the restart", 10*time.Second)
	readUntil(t, onA, "bob after the restart", 10*time.Second)
	if err := onA.SendMessage("alice after the restart"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "alice after the restart", 10*time.Second)
	readUntil(t, onB, "alice after the restart", 10*time.Second)
}

// joinSoon joins room slug, trying again for up to 15 s while the nodes
// refuse or close the socket (a room moving after NATS came back), and
// returns the socket once its snapshot came, with the snapshot.
func joinSoon(t *testing.T, c *client.Client, slug string) (*client.Socket, string) {
	t.Helper()
	s, snap, err := dialSoon(t, c, "/rooms/"+slug+"/ws", func(error) bool { return true })
	if err != nil {
		t.Fatalf("joining %s: %v 15 s after NATS came back", slug, err)
	}
	return s, snap
}

// /dm started on the node that does not hold the direct room: alice opens
// her direct room with bob on node a, which then holds it, and writes in
// it; bob, on node b, starts /dm with alice: he is sent to the same room,
// his socket through b gets alice's message, and his reply reaches her;
// carl's page of the room on b is a 404.
func TestDirectMessageFromOtherNode(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.User("alice"), b.User("bob")
	ids := []int64{userID(t, a, "alice"), userID(t, a, "bob")}
	slug := fmt.Sprintf("dm-%d-%d", min(ids[0], ids[1]), max(ids[0], ids[1]))
	dm := func(c *client.Client, with string) {
		t.Helper()
		page, err := c.Get("/rooms")
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Post("/dm", url.Values{"csrf": {client.CSRF(page.Body)}, "username": {with}})
		if err != nil || res.Location != "/rooms/"+slug {
			t.Fatalf("POST /dm with %s: %+v, %v", with, res, err)
		}
	}
	dm(alice, "bob")
	onA := joined(t, alice, slug)
	if _, _, ok := a.Rooms().Room(slug); !ok {
		t.Fatal("a does not hold the direct room alice opened there")
	}
	if err := onA.SendMessage("hi bob, privately"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "hi bob, privately", 5*time.Second)

	dm(bob, "alice")
	if _, _, ok := b.Rooms().Room(slug); ok {
		t.Fatal("b made a direct room of its own")
	}
	onB := apptest.Dial(t, bob, slug)
	readUntil(t, onB, "hi bob, privately", 5*time.Second)
	if err := onB.SendMessage("hi alice"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, onA, "hi alice", 5*time.Second)
	page, err := bob.Get("/rooms/" + slug)
	if err != nil || page.Status != 200 || !strings.Contains(page.Body, "hi bob, privately") {
		t.Errorf("bob's page of the direct room on b: %v, status %d", err, page.Status)
	}
	if page, err := b.User("carl").Get("/rooms/" + slug); err != nil || page.Status != 404 || strings.Contains(page.Body, "privately") {
		t.Errorf("carl's page of alice and bob's direct room on b: %v, status %d", err, page.Status)
	}
}
