package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/natstest"
	"natter/internal/pgtest"
	"natter/views"
)

// startCluster starts n nodes, named a, b, ..., on a new PostgreSQL
// schema and the NATS server nats.
func startCluster(t *testing.T, nats *natstest.Server, n int, opts ...apptest.Option) []*apptest.Server {
	t.Helper()
	return startClusterOn(t, pgtest.URL(t), nats, n, opts...)
}

// startClusterOn starts n nodes on the PostgreSQL at dbURL.
func startClusterOn(t *testing.T, dbURL string, nats *natstest.Server, n int, opts ...apptest.Option) []*apptest.Server {
	t.Helper()
	nodes := make([]*apptest.Server, n)
	for i := range nodes {
		nodes[i] = apptest.Start(t, append([]apptest.Option{apptest.Config(func(c *app.Config) {
			c.DatabaseURL, c.NATSURL, c.Node = dbURL, nats.URL(), string(rune('a'+i))
		})}, opts...)...)
	}
	return nodes
}

// joined opens a room socket and waits for its snapshot, after which the
// node counts it among the user's sockets.
func joined(t *testing.T, c *client.Client, slug string) *client.Socket {
	t.Helper()
	s := apptest.Dial(t, c, slug)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := s.ReadMessage(); err != nil {
		t.Fatalf("%s's snapshot: %v", slug, err)
	}
	return s
}

// readFor reads what s receives for d and returns it joined.
func readFor(t *testing.T, s *client.Socket, d time.Duration) string {
	t.Helper()
	var all bytes.Buffer
	s.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := s.ReadMessage()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("socket ended: %v", err)
			}
			return all.String()
		}
		all.Write(b)
	}
}

func userID(t *testing.T, s *apptest.Server, name string) int64 {
	t.Helper()
	u, err := s.DB().UserByLogin(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// An admin disabling an account on node a closes that user's socket on
// node b within a second, with the code and reason a gives its own.
func TestDisableClosesSocketsOnEveryNode(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	ana := a.User("ana") // the first account: an admin
	bob := b.User("bob")
	onB := joined(t, bob, "general")
	// bob's other session, on a: closed by a itself.
	bobOnA := a.SignIn("bob")
	onA := joined(t, bobOnA, "programming")

	id := strconv.FormatInt(userID(t, a, "bob"), 10)
	res, err := ana.Submit("/admin", "/admin/users/"+id+"/disable", nil)
	if err != nil || res.Location != "/admin?done=disabled&user="+id {
		t.Fatalf("disable: %+v, %v", res, err)
	}
	done := time.Now()
	for node, s := range map[string]*client.Socket{"b": onB, "a": onA} {
		// The session check runs every 30 s: a close within 1 s is the
		// event's.
		s.SetReadDeadline(done.Add(time.Second))
		var err error
		for err == nil {
			_, _, err = s.ReadMessage()
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1008 || ce.Text != "Your account has been disabled." {
			t.Errorf("bob's socket on %s ended with %v %s after the disable, want close 1008 %q within 1 s", node, err, time.Since(done), "Your account has been disabled.")
		}
	}
	b.WaitLog(time.Second, "node=b", "component=nats", "NATS connected")
}

// natter user password, run beside nodes that share NATS, closes the
// user's sockets on them at once, as the account page would; with NATS
// unreachable it says the sockets wait for the session check.
func TestPasswordCommandClosesSocketsEverywhere(t *testing.T) {
	nats := natstest.Start(t)
	dbURL := pgtest.URL(t)
	a := startClusterOn(t, dbURL, nats, 1)[0]
	a.User("ana")
	bob := a.User("bob")
	sock := joined(t, bob, "general")
	dir := t.TempDir()
	command := func(natsURL string) (string, error) {
		env := map[string]string{"NATTER_DATABASE_URL": dbURL, "NATTER_NATS_URL": natsURL, "NATTER_DB": dir + "/natter.db"}
		var out bytes.Buffer
		err := app.Command(context.Background(), []string{"user", "password", "bob"}, func(k string) string { return env[k] },
			strings.NewReader("a-new-pass-phrase-77\n"), &out, io.Discard)
		return out.String(), err
	}
	out, err := command(nats.URL())
	if err != nil || out != "password changed for bob; their sessions have ended\n" {
		t.Fatalf("natter user password = %q, %v", out, err)
	}
	sock.SetReadDeadline(time.Now().Add(time.Second))
	for err == nil {
		_, _, err = sock.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 || ce.Text != "Your password was changed." {
		t.Errorf("bob's socket ended with %v, want close 1008 %q within 1 s", err, "Your password was changed.")
	}

	gone := natstest.Start(t)
	goneURL := gone.URL()
	gone.Shutdown()
	_, err = command(goneURL)
	want := "password changed for bob and their sessions have ended, but their open sockets are not closed yet (NATS " + goneURL + ": cannot connect: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "): the servers close them within their session check (30 s)") {
		t.Errorf("with NATS away: %v\nwant %s...", err, want)
	}
}

// A direct message opened on node a notifies the other user on node b
// with the frame a rendered, once, and once on a too.
func TestDirectMessageNoticeReachesEveryNode(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice := a.User("alice")
	bob := b.User("bob")
	onB := joined(t, bob, "general")
	bobOnA := a.SignIn("bob")
	onA := joined(t, bobOnA, "programming")

	ids := []int64{userID(t, a, "alice"), userID(t, a, "bob")}
	slug := "dm-" + strconv.FormatInt(min(ids[0], ids[1]), 10) + "-" + strconv.FormatInt(max(ids[0], ids[1]), 10)
	page, err := alice.Get("/rooms")
	if err != nil {
		t.Fatal(err)
	}
	res, err := alice.Post("/dm", url.Values{"csrf": {client.CSRF(page.Body)}, "username": {"bob"}})
	if err != nil || res.Location != "/rooms/"+slug {
		t.Fatalf("POST /dm: %+v, %v", res, err)
	}
	var want bytes.Buffer
	if err := views.DirectNoticeFrame("alice", slug).Render(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	for node, s := range map[string]*client.Socket{"b": onB, "a": onA} {
		got := readFor(t, s, time.Second)
		if n := strings.Count(got, want.String()); n != 1 {
			t.Errorf("bob's socket on %s got the notice %d times, want once:\n%s\nwant\n%s", node, n, got, want.String())
		}
	}
}

// A mention in a room that node a holds reaches the mentioned user on
// node b, in another room.
func TestMentionNoticeReachesEveryNode(t *testing.T) {
	nats := natstest.Start(t)
	nodes := startCluster(t, nats, 2)
	a, b := nodes[0], nodes[1]
	alice := a.User("alice")
	bob := b.User("bob")
	onB := joined(t, bob, "general")
	// A room bob is not in: with rooms shared, general is one room on
	// both nodes, where bob sees the message itself and no notice.
	aliceOnA := joined(t, alice, "programming")
	if err := aliceOnA.SendMessage("@bob lunch?"); err != nil {
		t.Fatal(err)
	}
	got := readFor(t, onB, time.Second)
	if n := strings.Count(got, `data-notice="mention"`); n != 1 || !strings.Contains(got, "alice mentioned you in #programming.") {
		t.Errorf("bob's socket on b got %d mention notices, want 1:\n%s", n, got)
	}
}

// /readyz answers 503 while NATS is away and 200 again once a server is
// back on its address; the node logs each change once, and its metrics
// follow. NATS knows the connection by the node's name.
func TestReadyzFollowsNATS(t *testing.T) {
	nats := natstest.Start(t)
	a := startCluster(t, nats, 1, apptest.Config(func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" }))[0]
	ready := func() (int, string) {
		st, _, body := apptest.Get(t, a.URL+"/readyz")
		return st, body
	}
	if st, body := ready(); st != 200 || body != "ready\n" {
		t.Fatalf("readyz = %d %q, want 200 ready", st, body)
	}
	if names := nats.ClientNames(); len(names) != 1 || names[0] != "a" {
		t.Errorf("NATS clients %q, want the node's name a", names)
	}
	if m := scrape(t, a); m["natter_nats_connected"] != "1" || m["natter_nats_reconnects_total"] != "0" {
		t.Errorf("connected %q, reconnects %q; want 1, 0", m["natter_nats_connected"], m["natter_nats_reconnects_total"])
	}
	nats.Shutdown()
	if st, body := waitReadyz(t, ready, 503); body != "NATS unavailable\n" {
		t.Errorf("readyz without NATS = %d %q, want 503 %q", st, body, "NATS unavailable\n")
	}
	if m := scrape(t, a); m["natter_nats_connected"] != "0" {
		t.Errorf("connected %q without NATS, want 0", m["natter_nats_connected"])
	}
	a.WaitLog(time.Second, "level=WARN", "NATS disconnected: reconnecting", "node=a")
	nats.Restart()
	if st, body := waitReadyz(t, ready, 200); body != "ready\n" {
		t.Errorf("readyz with NATS back = %d %q", st, body)
	}
	a.WaitLog(time.Second, "level=INFO", "NATS reconnected", "node=a")
	if m := scrape(t, a); m["natter_nats_connected"] != "1" || m["natter_nats_reconnects_total"] != "1" {
		t.Errorf("connected %q, reconnects %q after the restart; want 1, 1", m["natter_nats_connected"], m["natter_nats_reconnects_total"])
	}
	if n := strings.Count(a.Log.String(), "NATS disconnected"); n != 1 {
		t.Errorf("%d lines say NATS disconnected, want 1", n)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(0, "NATS connection closed", "node=a")
	if n := nats.Clients(); n != 0 {
		t.Errorf("%d NATS clients after the node stopped, want 0", n)
	}
}

// waitReadyz polls /readyz until it answers status, for at most 10 s.
func waitReadyz(t *testing.T, ready func() (int, string), status int) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := ready()
		if st == status || time.Now().After(deadline) {
			if st != status {
				t.Fatalf("readyz = %d %q after 10 s, want %d", st, body, status)
			}
			return st, body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A start that cannot reach NATS, finds JetStream off, or has no shared
// accounts fails with one line; a URL that is not NATS's is refused as a
// setting.
func TestNATSStartRefusals(t *testing.T) {
	dbURL := pgtest.URL(t)
	noJS := natstest.Start(t, natstest.WithoutJetStream())
	gone := natstest.Start(t)
	goneURL := gone.URL()
	gone.Shutdown()
	run := func(env map[string]string) error {
		env["NATTER_ADDR"] = "127.0.0.1:0"
		env["NATTER_DB"] = t.TempDir() + "/natter.db"
		return app.Run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	for _, c := range []struct {
		env        map[string]string
		want, full string
	}{
		{env: map[string]string{"NATTER_NATS_URL": "http://nats:4222"},
			full: `invalid -nats-url ($NATTER_NATS_URL) "http://nats:4222": want a URL such as nats://nats.example.com:4222 (schemes nats, tls, ws, wss; several separated by commas)`},
		{env: map[string]string{"NATTER_NATS_URL": "nats://natter:s3cret@", "NATTER_DATABASE_URL": dbURL},
			full: `invalid -nats-url ($NATTER_NATS_URL) "nats://natter:xxxxx@": want a URL such as nats://nats.example.com:4222 (schemes nats, tls, ws, wss; several separated by commas)`},
		{env: map[string]string{"NATTER_NODE": "node one"},
			full: `invalid -node ($NATTER_NODE) "node one": want a name of at most 64 characters without spaces, such as natter-1`},
		{env: map[string]string{"NATTER_NATS_URL": noJS.URL()},
			full: "NATTER_NATS_URL needs NATTER_DATABASE_URL: the nodes must share their accounts in PostgreSQL"},
		{env: map[string]string{"NATTER_NATS_URL": noJS.URL(), "NATTER_DATABASE_URL": dbURL},
			full: "NATS " + noJS.URL() + ": JetStream is not enabled on that server (start nats-server with -js, or jetstream {} in its configuration)"},
		{env: map[string]string{"NATTER_NATS_URL": strings.Replace(goneURL, "//", "//natter:s3cret@", 1), "NATTER_DATABASE_URL": dbURL},
			want: "NATS " + strings.Replace(goneURL, "//", "//natter:xxxxx@", 1) + ": cannot connect: "},
	} {
		err := run(c.env)
		switch {
		case err == nil:
			t.Errorf("%v: started", c.env)
		case c.full != "" && err.Error() != c.full:
			t.Errorf("%v:\n got %v\nwant %s", c.env, err, c.full)
		case c.want != "" && (!strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "s3cret")):
			t.Errorf("%v:\n got %v\nwant one line starting %s", c.env, err, c.want)
		}
	}
}
