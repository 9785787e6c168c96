package handlers_test

import (
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/handlers"
	"natter/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// startNodes starts n servers on one PostgreSQL, as the harness does one
// (behind a trusted proxy on 127.0.0.1, the slowdown cut to a millisecond).
func startNodes(t *testing.T, n int) []*apptest.Server {
	t.Helper()
	dbURL := pgtest.URL(t)
	nodes := make([]*apptest.Server, n)
	for i := range nodes {
		nodes[i] = apptest.Start(t,
			apptest.Config(func(c *app.Config) { c.DatabaseURL = dbURL }),
			apptest.Web(func(w *handlers.Config) {
				w.TrustedProxies = []string{"127.0.0.1"}
				w.SlowdownStep, w.SlowdownMax = time.Millisecond, time.Millisecond
			}))
	}
	return nodes
}

// TestLoginLimitIsNoLockout's story on two nodes, the attacker's tries
// alternating between them: the limits count the tries of both, and the
// owner's address, known from a sign-in on one node, is exempt on the
// other.
func TestLoginLimitsHoldAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	nodes[0].User("alice")
	tries := 0
	fail := func(addr string) *client.Response {
		t.Helper()
		tries++
		c := forwardedFor(nodes[tries%2].Client(), addr)
		return submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {"not her password"}})
	}
	for i := 1; i <= 5; i++ {
		wantPage(t, fail("198.51.100."+strconv.Itoa(i)), http.StatusUnauthorized, msgBadLogin)
	}
	// The owner signs in on node 1; node 0 will know her address.
	if err := forwardedFor(nodes[1].Client(), "203.0.113.50").Login("alice", apptest.Password); err != nil {
		t.Fatalf("the owner, after 5 failures from others: %v", err)
	}

	// One address, tries on both nodes: the sixth is refused.
	for i := 1; i <= 4; i++ {
		wantPage(t, fail("198.51.100.1"), http.StatusUnauthorized)
	}
	res := fail("198.51.100.1")
	wantPage(t, res, http.StatusTooManyRequests, "Too many attempts", "Please wait")
	if retry, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || retry <= 0 || retry > 15*60 {
		t.Errorf("Retry-After = %q, want seconds within the 15-minute window", res.Header.Get("Retry-After"))
	}
	for _, n := range nodes {
		c := forwardedFor(n.Client(), "198.51.100.1")
		wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {apptest.Password}}), http.StatusTooManyRequests)
	}

	// Many addresses: the account's ceiling, reached with the tries of
	// both nodes together (9 so far; refused tries do not count).
	counted := 9
	for i := 0; counted < handlers.AccountFailures; i++ {
		if res := fail("192.0.2." + strconv.Itoa(i%250+1)); res.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d from many addresses: status %d, want 401", counted+1, res.Status)
		}
		counted++
	}
	for _, n := range nodes {
		c := forwardedFor(n.Client(), "198.18.0.1")
		wantPage(t, submit(t, c, "/login", "/login", url.Values{"username": {"alice"}, "password": {"not her password"}}),
			http.StatusTooManyRequests, "Too many attempts")
	}
	// Her address, known from node 1, is exempt on node 0 too.
	if err := forwardedFor(nodes[0].Client(), "203.0.113.50").Login("alice", apptest.Password); err != nil {
		t.Errorf("the owner, from her own address, on the other node, at the account's ceiling: %v", err)
	}
}

// Reset mails for one address: 5 an hour across the nodes, asked on
// either.
func TestResetMailLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	nodes[0].User("alice")
	for i := 0; i < 8; i++ {
		c := forwardedFor(nodes[i%2].Client(), "198.51.100."+strconv.Itoa(i+1))
		wantPage(t, submit(t, c, "/password/forgot", "/password/forgot", url.Values{"email": {"alice@example.com"}}), http.StatusOK)
	}
	// Sending is off the request path: wait for the five, then a moment
	// for any more.
	deadline := time.Now().Add(10 * time.Second)
	count := func() int { return nodes[0].Mail.Count("alice@example.com") + nodes[1].Mail.Count("alice@example.com") }
	for count() < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := count(); n != 5 {
		t.Errorf("%d reset mails sent for 8 requests over two nodes, want 5", n)
	}
}

// Sign-ups from one address: signUpsPerHour across the nodes.
func TestSignUpLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	for i := 0; i < handlers.SignUpsPerHour; i++ {
		name := "user" + strconv.Itoa(i)
		c := nodes[i%2].Client()
		if err := c.Register(name, name+"@example.com", apptest.Password); err != nil {
			t.Fatalf("sign-up %d: %v", i, err)
		}
	}
	for _, n := range nodes {
		res := submit(t, n.Client(), "/register", "/register", url.Values{"username": {"onemore"}, "email": {"onemore@example.com"},
			"password": {apptest.Password}, "password_confirm": {apptest.Password}})
		wantPage(t, res, http.StatusTooManyRequests, "Too many attempts")
	}
}
