package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"natter/app"
	"natter/client"
	"natter/internal/natstest"
	"natter/internal/pgtest"
	"natter/internal/testenv"
)

// TestMain runs the tests and stops the PostgreSQL that pgtest may have
// started for them.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The shipped files' private addresses of the three nodes, which the tests
// replace with the nodes' loopback addresses.
var shippedNodes = []string{"10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"}

// TestNodesBehindNginx runs the "Many nodes" section of docs/deploy.md
// with nginx and deploy/nginx-nodes.conf: three Natter processes on one
// PostgreSQL and one NATS server started from deploy/nats.conf (see
// manyNodes for what is checked).
func TestNodesBehindNginx(t *testing.T) {
	bin := lookPath("nginx", "/usr/sbin/nginx")
	if bin == "" {
		testenv.Missing(t, "nginx is not installed (apt-get install nginx-light): deploy/nginx-nodes.conf is not checked")
	}
	manyNodes(t, func(dir, cert, key string, tlsPort, httpPort int, nodes []string) {
		pairs := nginxTLS(cert, key, tlsPort, httpPort)
		for i, addr := range nodes {
			pairs = append(pairs, shippedNodes[i], addr)
		}
		startNginx(t, bin, dir, render(t, "nginx-nodes.conf", pairs...))
	})
}

// TestNodesBehindCaddy is TestNodesBehindNginx with Caddy and
// deploy/Caddyfile.nodes.
func TestNodesBehindCaddy(t *testing.T) {
	bin := lookPath("caddy", "/usr/bin/caddy")
	if bin == "" {
		testenv.Missing(t, "caddy is not installed (apt-get install caddy): deploy/Caddyfile.nodes is not checked")
	}
	manyNodes(t, func(dir, cert, key string, tlsPort, httpPort int, nodes []string) {
		pairs := []string{"chat.example.com {", fmt.Sprintf("%s:%d {\n\ttls %s %s", host, tlsPort, cert, key)}
		for i, addr := range nodes {
			pairs = append(pairs, shippedNodes[i], addr)
		}
		startCaddy(t, bin, dir, render(t, "Caddyfile.nodes", pairs...), httpPort)
	})
}

// manyNodes starts NATS from deploy/nats.conf, one PostgreSQL schema and
// three Natter nodes (processes of their own), then the proxy with
// startProxy, and uses the site through it: three people sign up (their
// requests spread over the nodes), their sockets to one room land on
// three different nodes, and their messages reach every socket in one
// order. Then the upgrade of docs/deploy.md: the node that holds the room
// gets SIGTERM, every socket is closed with 1012, no request through the
// proxy fails, reconnecting through the proxy finds every message, and
// the node, started again on its address, answers /readyz and serves the
// room again. Last, NATS stops: pages are still served through the
// proxy and bob signs in; it starts again: the nodes are ready again and
// a room works.
func manyNodes(t *testing.T, startProxy func(dir, cert, key string, tlsPort, httpPort int, nodes []string)) {
	dir := t.TempDir()
	nats, natsURL, natsPassword := startNATSFromConf(t, dir)
	dbURL := pgtest.URL(t)
	cert, key, pool := selfSigned(t, dir, host)
	tlsPort, httpPort := freePort(t), freePort(t)
	base := fmt.Sprintf("https://%s:%d", host, tlsPort)

	// NATS refuses a node without the file's user and password.
	noAuth, _ := url.Parse(natsURL)
	noAuth.User = nil
	if err := runUntilStarted(map[string]string{
		"NATTER_NATS_URL": noAuth.String(), "NATTER_DATABASE_URL": dbURL,
		"NATTER_ADDR": "127.0.0.1:0", "NATTER_DB": filepath.Join(dir, "refused.db"),
	}); err == nil || !strings.Contains(err.Error(), "cannot connect") || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("a node without NATS's password: %v; want it refused (authorization)", err)
	}

	nodes := make([]*node, 3)
	addrs := make([]string, 3)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		nodes[i] = startNode(t, name, map[string]string{
			"NATTER_NODE": name, "NATTER_ADDR": "127.0.0.1:0", "NATTER_DB": filepath.Join(dir, name+".db"),
			"NATTER_DATABASE_URL": dbURL, "NATTER_NATS_URL": natsURL, "NATTER_BASE_URL": base,
			"NATTER_TRUSTED_PROXY": "127.0.0.1",
		})
		addrs[i] = nodes[i].Addr
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if t.Failed() {
				t.Logf("node %s's log:\n%s", n.name, n.logs.String())
			}
			if strings.Contains(n.logs.String(), natsPassword) {
				t.Errorf("node %s logged NATS's password", n.name)
			}
		}
	})
	startProxy(dir, cert, key, tlsPort, httpPort, addrs)

	names := []string{"ana", "bob", "cem"}
	browsers := make([]*browser, 3)
	for i, name := range names {
		browsers[i] = newBrowser(t, base, pool)
		if i == 0 {
			waitHealthy(t, browsers[i])
		}
		// The sign-up's form and its post may reach different nodes.
		if err := browsers[i].Register(name, name+"@example.com", "plum-kettle-orbit-42"); err != nil {
			t.Fatalf("%s signing up through the proxy: %v", name, err)
		}
	}
	for _, n := range nodes {
		if n.count("request", "/register") == 0 {
			t.Errorf("node %s served no sign-up request: the proxy does not spread requests", n.name)
		}
	}

	// ana's socket claims the room on the node it reaches; bob's and
	// cem's are opened again until they reach the two others.
	const room = "lounge"
	socks := make([]*client.Socket, 3)
	on := make([]int, 3)
	for i, b := range browsers {
		for try := 1; ; try++ {
			s, n, snap, err := dialThroughProxy(b, nodes, room)
			if err != nil {
				t.Fatalf("%s's socket through the proxy: %v", names[i], err)
			}
			if !strings.Contains(snap, `id="members"`) {
				t.Fatalf("%s's first frame is not the room's snapshot:\n%s", names[i], snap)
			}
			if !slices.Contains(on[:i], n) {
				socks[i], on[i] = s, n
				defer s.Close()
				break
			}
			s.Close()
			if try == 10 {
				t.Fatalf("10 sockets of %s all reached nodes %v, which others' sockets are on: the proxy does not spread sockets", names[i], on[:i])
			}
		}
	}
	holder := nodes[on[0]]
	t.Logf("ana's socket on %s (it holds %s), bob's on %s, cem's on %s", holder.name, room, nodes[on[1]].name, nodes[on[2]].name)

	texts := make([]string, 3)
	for i, s := range socks {
		texts[i] = fmt.Sprintf("%s says hello from %s", names[i], nodes[on[i]].name)
		if err := s.SendMessage(texts[i]); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	for i, s := range socks {
		seen := readAll(t, s, texts)
		if i == 0 {
			order = seen
		} else if !slices.Equal(seen, order) {
			t.Errorf("%s saw %q; ana saw %q", names[i], seen, order)
		}
	}
	// The room's page, asked three times: whichever node gets it answers
	// with the room as it is.
	for range nodes {
		page, err := browsers[1].Get("/rooms/" + room)
		if err != nil || page.Status != http.StatusOK || !strings.Contains(page.Body, texts[0]) || !strings.Contains(page.Body, texts[2]) {
			t.Fatalf("bob's room page through the proxy: %v, status %d", err, page.Status)
		}
	}

	// The upgrade, step one: SIGTERM to the node that holds the room.
	// Meanwhile a visitor asks for /healthz every 50 ms: the proxy sends
	// every request to a node that answers.
	polling := pollHealthz(newBrowser(t, base, pool))
	if err := holder.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, s := range socks {
		if code, reason := closeCode(t, s, 15*time.Second); code != websocket.CloseServiceRestart {
			t.Errorf("%s's socket on %s when %s stopped: closed with %d %q; want 1012", names[i], nodes[on[i]].name, holder.name, code, reason)
		}
	}
	select {
	case <-holder.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit within 20 s of SIGTERM", holder.name)
	}
	if code := holder.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s exited with status %d after SIGTERM; want 0", holder.name, code)
	}

	// Every browser reconnects through the proxy, as the page does, and
	// the snapshot holds every message.
	for i, b := range browsers {
		s, n, snap, tries := reconnectThroughProxy(t, b, nodes, room)
		defer s.Close()
		socks[i], on[i] = s, n
		t.Logf("%s reconnected through %s after %d tries", names[i], nodes[n].name, tries)
		for _, text := range texts {
			if !strings.Contains(snap, text) {
				t.Errorf("%s's snapshot after the reconnect (on %s) lacks %q", names[i], nodes[n].name, text)
			}
		}
	}
	after := "cem writes after the upgrade"
	if err := socks[2].SendMessage(after); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		readAll(t, s, []string{after})
	}
	time.Sleep(time.Second) // the node stays down a while, as during an upgrade
	if asked, failed := polling(); len(failed) > 0 || asked < 10 {
		t.Errorf("GET /healthz through the proxy while %s stopped: %d of %d failed: %q", holder.name, len(failed), asked, failed)
	} else {
		t.Logf("GET /healthz through the proxy while %s stopped: all %d answered 200", holder.name, asked)
	}

	// Step two: the node starts again on its address (the new binary),
	// answers /readyz, and the proxy sends it sockets again.
	holder.restart(t)
	waitReadyz(t, holder, http.StatusOK)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, n, _, err := dialThroughProxy(browsers[1], nodes, room)
		if err != nil {
			t.Fatalf("bob's socket through the proxy after %s restarted: %v", holder.name, err)
		}
		if nodes[n] == holder {
			defer s.Close()
			back := "bob is back on " + holder.name
			if err := s.SendMessage(back); err != nil {
				t.Fatal(err)
			}
			readAll(t, socks[0], []string{back})
			readAll(t, s, []string{back})
			break
		}
		s.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no socket through the proxy reached %s within 30 s of its restart", holder.name)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// NATS goes away: every node says it is not ready on /readyz, which
	// the proxy does not check: pages that need no NATS are still served,
	// and signing in works.
	nats.Shutdown()
	for _, n := range nodes {
		waitReadyz(t, n, http.StatusServiceUnavailable)
	}
	visitor := newBrowser(t, base, pool)
	for range nodes {
		page, err := visitor.Get("/login")
		if err != nil {
			t.Fatalf("GET /login through the proxy while NATS is away: %v", err)
		}
		if page.Status != http.StatusOK || !strings.Contains(page.Body, `action="/login"`) {
			t.Errorf("GET /login through the proxy while NATS is away: status %d; want 200 and the form\n%.300s", page.Status, page.Body)
		}
	}
	if err := visitor.Login("bob", "plum-kettle-orbit-42"); err != nil {
		t.Errorf("bob signing in through the proxy while NATS is away: %v", err)
	}
	// NATS comes back: the nodes are ready again by themselves, and a
	// room works through the proxy.
	nats.Restart()
	for _, n := range nodes {
		waitReadyz(t, n, http.StatusOK)
	}
	s, n, _, tries := reconnectThroughProxy(t, browsers[0], nodes, "after-nats")
	defer s.Close()
	if err := s.SendMessage("NATS is back"); err != nil {
		t.Fatal(err)
	}
	readAll(t, s, []string{"NATS is back"})
	t.Logf("with NATS back, ana's socket to a new room through %s after %d tries", nodes[n].name, tries)
}

// pollHealthz asks for /healthz with b every 50 ms until the function it
// returns is called, which returns how many were asked and how those
// that did not answer 200 failed.
func pollHealthz(b *browser) func() (int, []string) {
	stop, done := make(chan struct{}), make(chan struct{})
	asked, failed := 0, []string{}
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			asked++
			if res, err := b.Get("/healthz"); err != nil {
				failed = append(failed, err.Error())
			} else if res.Status != http.StatusOK {
				failed = append(failed, fmt.Sprintf("status %d: %s", res.Status, res.Body))
			}
		}
	}()
	return func() (int, []string) {
		close(stop)
		<-done
		return asked, failed
	}
}

// startNATSFromConf runs a NATS server in the test binary with the
// options of deploy/nats.conf, read by the NATS server's own parser,
// listening on 127.0.0.1 and keeping its files in dir. It returns the
// URL the nodes use (with the file's user and password) and the password.
func startNATSFromConf(t *testing.T, dir string) (nats *natstest.Server, natsURL, password string) {
	t.Helper()
	port := freePort(t)
	conf := render(t, "nats.conf",
		"listen: 10.0.0.20:4222", fmt.Sprintf("listen: 127.0.0.1:%d", port),
		"store_dir: /var/lib/nats", "store_dir: "+filepath.Join(dir, "jetstream"))
	path := filepath.Join(dir, "nats.conf")
	writeFile(t, path, conf)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("deploy/nats.conf: %v", err)
	}
	if !opts.JetStream || opts.JetStreamMaxMemory != 1e9 || opts.Username != "natter" || opts.Password == "" {
		t.Fatalf("deploy/nats.conf: JetStream %v, max memory %d, user %q; want JetStream on, 1 GB, user natter with a password",
			opts.JetStream, opts.JetStreamMaxMemory, opts.Username)
	}
	nats = natstest.Start(t, func(o *server.Options) {
		*o = *opts
		o.NoLog, o.NoSigs = true, true
	})
	u := url.URL{Scheme: "nats", User: url.UserPassword(opts.Username, opts.Password), Host: fmt.Sprintf("127.0.0.1:%d", port)}
	return nats, u.String(), opts.Password
}

// runUntilStarted runs Natter with env and returns why it stopped, or nil
// if it was still running 15 s later (then it is stopped).
func runUntilStarted(env map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := app.Run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// node is one Natter node, a process of its own.
type node struct {
	name string
	env  map[string]string
	listening
}

func startNode(t *testing.T, name string, env map[string]string) *node {
	t.Helper()
	return &node{name: name, env: env, listening: runProcess(t, env)}
}

// restart starts the node again on the address it had, with the same
// settings, as an upgrade does; its log starts afresh.
func (n *node) restart(t *testing.T) {
	t.Helper()
	n.env["NATTER_ADDR"] = n.Addr
	n.listening = runProcess(t, n.env)
}

// count is how many lines of the node's log have message msg and, if
// given, the room or path in.
func (n *node) count(msg, in string) int {
	c := 0
	sc := bufio.NewScanner(strings.NewReader(n.logs.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var line struct{ Msg, Room, Path string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg && (in == "" || line.Room == in || line.Path == in) {
			c++
		}
	}
	return c
}

// dialThroughProxy opens b's socket to room through the proxy and reads
// its first frame; it returns the socket, the index of the node that
// logged it ("socket connected") and the frame.
func dialThroughProxy(b *browser, nodes []*node, room string) (*client.Socket, int, string, error) {
	before := make([]int, len(nodes))
	for i, n := range nodes {
		before[i] = n.count("socket connected", room)
	}
	s, err := b.Dial(room, b.wsDialer())
	if err != nil {
		status := 0
		if s.Response != nil {
			status = s.Response.StatusCode
		}
		return nil, 0, "", fmt.Errorf("%w (status %d)", err, status)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, first, err := s.ReadMessage()
	if err != nil {
		s.Close()
		return nil, 0, "", fmt.Errorf("first frame: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for i, n := range nodes {
			if n.count("socket connected", room) > before[i] {
				return s, i, string(first), nil
			}
		}
	}
	s.Close()
	return nil, 0, "", errors.New("no node logged the socket")
}

// reconnectThroughProxy opens b's socket to room again, as the page does
// after a 1012: at once, and again while it is refused or closed before
// its snapshot, for up to 20 s. It returns the socket, its node, the
// snapshot and the number of tries.
func reconnectThroughProxy(t *testing.T, b *browser, nodes []*node, room string) (*client.Socket, int, string, int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for try := 1; ; try++ {
		s, n, snap, err := dialThroughProxy(b, nodes, room)
		if err == nil {
			return s, n, snap, try
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconnecting through the proxy: %v after %d tries", err, try)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// readAll reads s until it saw every one of texts, and returns them in
// the order they came.
func readAll(t *testing.T, s *client.Socket, texts []string) []string {
	t.Helper()
	var all strings.Builder
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		missing := false
		for _, text := range texts {
			missing = missing || !strings.Contains(all.String(), text)
		}
		if !missing {
			break
		}
		_, b, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v; got\n%s", texts, err, all.String())
		}
		all.Write(b)
	}
	order := slices.Clone(texts)
	slices.SortFunc(order, func(a, b string) int { return strings.Index(all.String(), a) - strings.Index(all.String(), b) })
	return order
}

// closeCode reads s until it ends and returns its close code and reason.
func closeCode(t *testing.T, s *client.Socket, within time.Duration) (int, string) {
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

// waitReadyz polls the node's /readyz, on its own address, until it
// answers status, for up to 20 s.
func waitReadyz(t *testing.T, n *node, status int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get("http://" + n.Addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's /readyz: %v, not %d within 20 s", n.name, err, status)
		}
	}
}
