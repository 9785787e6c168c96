package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/cluster"
	"natter/internal/natstest"
	"natter/internal/stallproxy"
)

// registry stands for a node's chat.Registry: it records what it was
// asked to do to its sockets, as text, and holds the sessions with
// sockets open.
type registry struct {
	mu       sync.Mutex
	calls    []string
	sessions []string
	changed  chan struct{}
}

func newRegistry(sessions ...string) *registry {
	return &registry{sessions: sessions, changed: make(chan struct{}, 100)}
}

func (r *registry) record(call string) {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (r *registry) SendUser(id int64, frame []byte) int {
	r.record(fmt.Sprintf("send %d %s", id, frame))
	return 1
}

func (r *registry) CloseUser(id int64, keep string, code int, reason string) {
	r.record(fmt.Sprintf("close user %d keep %q %d %q", id, keep, code, reason))
}

func (r *registry) CloseSession(session string, code int, reason string) {
	r.record(fmt.Sprintf("close session %q %d %q", session, code, reason))
}

func (r *registry) Sessions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sessions)
}

// wait returns the calls once there are n of them; it fails the test
// after 2 s.
func (r *registry) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		r.mu.Lock()
		calls := slices.Clone(r.calls)
		r.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("%d calls after 2 s, want %d: %q", len(calls), n, calls)
		}
	}
}

// node is one node's connection and user events.
type node struct {
	conn  *cluster.Conn
	users *cluster.Users
	reg   *registry
}

func startNode(t *testing.T, url, name string, reg *registry) node {
	t.Helper()
	conn, users := startOn(t, url, name, reg)
	return node{conn, users, reg}
}

// connectNode connects a node named name to the NATS server at url until
// the test ends, with a logger that writes nothing.
func connectNode(t *testing.T, url, name string) (*cluster.Conn, *slog.Logger) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := cluster.Connect(context.Background(), url, name, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, log
}

// startOn connects a node whose sockets are local's.
func startOn(t *testing.T, url, name string, local cluster.Local) (*cluster.Conn, *cluster.Users) {
	t.Helper()
	conn, log := connectNode(t, url, name)
	users, err := cluster.NewUsers(conn, local, name, log)
	if err != nil {
		t.Fatal(err)
	}
	return conn, users
}

// What one node does to a user's sockets, the other does to its own, once;
// the node that acted does it once too (its own events do not come back).
func TestUserEventsCrossNodes(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", newRegistry("sid-a"))
	b := startNode(t, srv.URL(), "b", newRegistry("sid-b1", "sid-b2"))

	frame := []byte(`<div id="notices" hx-swap-oob="afterbegin">ana sent you a direct message.</div>`)
	if n := a.users.SendUser(7, frame); n != 1 {
		t.Errorf("SendUser = %d, want the local registry's 1", n)
	}
	a.users.RelayUser(8, []byte("mention"))
	a.users.CloseUser(9, "sid-b2", 1008, "Your password was changed.")
	a.users.CloseUser(10, "", 1008, "Your account has been disabled.")
	a.users.CloseSession("sid-b1", 1008, "Signed out.")
	// A session with no socket on b closes nothing there.
	a.users.CloseSession("sid-elsewhere", 1008, "Signed out.")
	// b answers once it has all of a's: a marker that reaches a after any
	// echo of a's own events would have.
	want := []string{
		"send 7 " + string(frame),
		"send 8 mention",
		`close user 9 keep "sid-b2" 1008 "Your password was changed."`,
		`close user 10 keep "" 1008 "Your account has been disabled."`,
		`close session "sid-b1" 1008 "Signed out."`,
	}
	if got := b.reg.wait(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("b did\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b.users.RelayUser(1, []byte("marker"))
	wantA := []string{
		"send 7 " + string(frame),
		`close user 9 keep "sid-b2" 1008 "Your password was changed."`,
		`close user 10 keep "" 1008 "Your account has been disabled."`,
		`close session "sid-b1" 1008 "Signed out."`,
		`close session "sid-elsewhere" 1008 "Signed out."`,
		"send 1 marker",
	}
	if got := a.reg.wait(t, len(wantA)); !slices.Equal(got, wantA) {
		t.Errorf("a did\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantA, "\n"))
	}
	// Nothing more comes to b either.
	time.Sleep(100 * time.Millisecond)
	if got := b.reg.wait(t, 0); len(got) != len(want) {
		t.Errorf("b did %d things, want %d: %q", len(got), len(want), got)
	}
}

// Sessions cross NATS as hashes: no event carries an id that signs in.
func TestSessionIDsDoNotTravel(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", newRegistry())
	spy := newRegistry()
	startNode(t, srv.URL(), "spy", spy)
	raw := captureRaw(t, srv.URL())
	a.users.CloseUser(3, "secret-session-id", 1008, "x")
	a.users.CloseSession("secret-session-id", 1008, "y")
	got := raw(2)
	for _, m := range got {
		if strings.Contains(m, "secret-session-id") {
			t.Errorf("an event carries the session id: %s", m)
		}
	}
}

// captureRaw subscribes to every user event and returns a function that
// waits for n of them, as text.
func captureRaw(t *testing.T, url string) func(n int) []string {
	t.Helper()
	reg := newRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := cluster.Connect(context.Background(), url, "raw", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stop := cluster.Tap(conn, func(subject string, data []byte) { reg.record(subject + " " + string(data)) })
	t.Cleanup(stop)
	return func(n int) []string { return reg.wait(t, n) }
}

// A start that cannot reach NATS, or finds JetStream off, fails with one
// line that says so.
func TestConnectRefusals(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "nats://127.0.0.1:" + strings.Split(ln.Addr().String(), ":")[1]
	ln.Close()
	_, err = cluster.Connect(context.Background(), strings.Replace(closed, "nats://", "nats://u:s3cret@", 1), "a", log)
	if want := "NATS nats://u:xxxxx@" + strings.TrimPrefix(closed, "nats://") + ": cannot connect: "; err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("unreachable: %v\nwant a line starting %q", err, want)
	}

	noJS := natstest.Start(t, natstest.WithoutJetStream())
	_, err = cluster.Connect(context.Background(), noJS.URL(), "a", log)
	want := "NATS " + noJS.URL() + ": JetStream is not enabled on that server (start nats-server with -js, or jetstream {} in its configuration)"
	if err == nil || err.Error() != want {
		t.Errorf("without JetStream: %v\nwant %s", err, want)
	}
	waitFor(t, "the refused connection closed", func() bool { return noJS.Clients() == 0 })
}

// Ready fails while the server is away and recovers when it is back;
// Close leaves no connection behind.
func TestReadyFollowsTheConnection(t *testing.T) {
	srv := natstest.Start(t)
	n := startNode(t, srv.URL(), "a", newRegistry())
	if err := n.conn.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	srv.Shutdown()
	waitFor(t, "Ready to fail", func() bool { return n.conn.Ready() != nil })
	if err := n.conn.Ready(); err.Error() != "NATS reconnecting" {
		t.Errorf("Ready = %v, want NATS reconnecting", err)
	}
	srv.Restart()
	waitFor(t, "Ready again", func() bool { return n.conn.Ready() == nil })
	// Events flow again: the subscriptions came back with the connection.
	other := startNode(t, srv.URL(), "b", newRegistry())
	other.users.RelayUser(5, []byte("back"))
	if got := n.reg.wait(t, 1); got[0] != "send 5 back" {
		t.Errorf("after the restart: %q", got)
	}
	if err := n.conn.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one client left", func() bool { return srv.Clients() == 1 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// quiet is a registry that takes frames without recording them (tests
// that flood it) and records the rest.
type quiet struct{ *registry }

func (q quiet) SendUser(int64, []byte) int { return 0 }

// A NATS server that stops reading (a partition, a frozen server: the
// connection stays open) holds up no request: every publish returns at
// once, however much waits to be sent, and events flow again once the
// server reads again.
func TestStalledServerDoesNotBlockPublishers(t *testing.T) {
	srv := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(srv.URL(), "nats://"))
	aConn, aUsers := startOn(t, "nats://"+proxy.Addr(), "a", quiet{newRegistry()})
	b := newRegistry("sid-b")
	startOn(t, srv.URL(), "b", quiet{b})
	t.Cleanup(proxy.Resume) // before the nodes close
	proxy.Stall()
	frame := bytes.Repeat([]byte("x"), 64<<10)
	// 25 MB: more than the kernels' socket buffers on both sides hold.
	for i := range 400 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			aUsers.RelayUser(1, frame)
			aUsers.CloseSession("sid-"+strconv.Itoa(i), 1008, "Signed out.")
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("publish %d (%d MB queued) still waiting after 1 s", i, i*len(frame)>>20)
		}
	}
	proxy.Resume()
	waitFor(t, "a connected again", func() bool { return aConn.Ready() == nil })
	b.mu.Lock()
	b.calls = nil
	b.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		aUsers.CloseSession("sid-b", 1008, "Signed out.")
		b.mu.Lock()
		got := slices.Contains(b.calls, `close session "sid-b" 1008 "Signed out."`)
		b.mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event reached b within 10 s of the server reading again")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A NATS server that stops answering while the node has nothing to send
// (a partition, a frozen server: the connection stays open) is taken as
// lost within a few pings, so that /readyz says so, not minutes later;
// the node is back by itself once the server answers again.
func TestStalledServerIsNoticed(t *testing.T) {
	srv := natstest.Start(t)
	proxy := stallproxy.Start(t, "tcp", strings.TrimPrefix(srv.URL(), "nats://"))
	conn, _ := startOn(t, "nats://"+proxy.Addr(), "a", newRegistry())
	t.Cleanup(proxy.Resume) // before the node closes
	proxy.Stall()
	start := time.Now()
	for conn.Ready() == nil {
		if time.Since(start) > 25*time.Second {
			t.Fatal("Ready still nil 25 s after the server stopped answering")
		}
		time.Sleep(50 * time.Millisecond)
	}
	proxy.Resume()
	waitFor(t, "Ready again", func() bool { return conn.Ready() == nil })
}
