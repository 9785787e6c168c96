package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A session that ends without this server closing its sockets (it expired,
// or its row was deleted) loses them at the next check, with 1008.
func TestEndedSessionLosesItsSockets(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.web.SessionCheck = 50 * time.Millisecond })
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	sock, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sid := alice.Cookie("natter_session")
	if _, err := h.DB.SQL.Exec(`DELETE FROM sessions WHERE k = ?`, sid); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, sock, 1008, "Your session has ended.")
	return
}

// A visitor's session (the CSRF token of the sign-in form) is stored for
// two hours at most; a signed-in session for the idle lifetime.
func TestVisitorSessionsAreShortLived(t *testing.T) {
	h := newHarness(t)
	visitor := h.client()
	if res, err := visitor.Get("/login"); err != nil || res.Status != http.StatusOK {
		t.Fatalf("GET /login: %v", err)
	}
	expiry := func(id string) time.Duration {
		var e int64
		if err := h.DB.SQL.QueryRow(`SELECT e FROM sessions WHERE k = ?`, id).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return time.Until(time.Unix(e, 0))
	}
	if d := expiry(visitor.Cookie("natter_session")); d <= 0 || d > 2*time.Hour+time.Second {
		t.Errorf("visitor session expires in %v, want at most 2h", d)
	}
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	alice.Get("/rooms") // a later save (the CSRF token) must keep the long expiry
	if d := expiry(alice.Cookie("natter_session")); d < 13*24*time.Hour {
		t.Errorf("signed-in session expires in %v, want the 14-day idle lifetime", d)
	}
}

// Guesses at one account count together whether they name it by user name
// or by address, in any letter case.
func TestLoginLimitCountsTheAccountNotTheSpelling(t *testing.T) {
	h := newHarness(t)
	h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	spellings := []string{"alice", "ALICE", "alice@example.com", "Alice@Example.com", " alice ", "alice"}
	var last int
	for _, name := range spellings {
		res, err := h.client().Submit("/login", "/login", url.Values{"username": {name}, "password": {"wrong-password-1"}})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("6th failed sign-in (spelled %q) got %d, want 429", spellings[5], last)
	}
}

// The lobby's polling, once the session is gone, asks htmx to load the
// sign-in page rather than swapping it into the room list.
func TestPollingAfterSignOutRedirectsThePage(t *testing.T) {
	h := newHarness(t)
	anon := h.client()
	req, _ := http.NewRequest(http.MethodGet, anon.URL("/rooms/list"), nil)
	req.Header.Set("HX-Request", "true")
	res, err := anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != "/login" || res.Body != "Unauthorized" {
		t.Errorf("got %d, HX-Redirect %q, body %q", res.Status, res.Header.Get("HX-Redirect"), res.Body)
	}
}

// Socket upgrades are limited per address: the 601st within a minute is
// refused with 429 before anything else is looked at.
func TestSocketUpgradesAreLimitedPerAddress(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	upgrade := func() int {
		req, _ := http.NewRequest(http.MethodGet, c.URL("/rooms/general/ws"), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", h.URL)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res.Status
	}
	for i := 1; i <= 600; i++ {
		if got := upgrade(); got != http.StatusUnauthorized {
			t.Fatalf("upgrade %d: status %d, want 401 (anonymous, within the limit)", i, got)
		}
	}
	if got := upgrade(); got != http.StatusTooManyRequests {
		t.Errorf("upgrade 601: status %d, want 429", got)
	}
}

// A tab whose session signed out hears 1008, and what it sends after
// that (before answering the close) is not posted: the sign-out ends what
// the socket may do at once, not when the close handshake ends.
func TestSignedOutSocketCannotPost(t *testing.T) {
	h := newHarness(t)
	alice := h.signedUp("alice", "alice@example.com", "plum-kettle-orbit-42")
	bob := h.signedUp("bob", "bob@example.com", "plum-kettle-orbit-42")
	as, err := alice.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	bs, err := bob.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	br := newReader(t, bs)
	br.until("bob's snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	// alice's client answers the close with a post, as a script could.
	payload, _ := json.Marshal(map[string]string{"message": "after sign-out"})
	closed := make(chan int, 1)
	as.SetCloseHandler(func(code int, _ string) error {
		as.NetConn().Write(maskedText(payload))
		closed <- code
		return nil
	})
	go func() {
		for {
			if _, _, err := as.ReadMessage(); err != nil {
				return
			}
		}
	}()
	submit(t, alice, "/rooms", "/logout", nil)
	select {
	case code := <-closed:
		if code != 1008 {
			t.Errorf("alice's socket closed with %d, want 1008", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alice's socket was not closed")
	}
	// Once the server gave up on alice's answer, bob posts: what alice
	// sent would have come before it.
	as.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := as.NetConn().Read(make([]byte, 1)); err == nil {
		t.Fatal("alice's connection still open")
	}
	if err := bs.SendMessage("marker from bob"); err != nil {
		t.Fatal(err)
	}
	got := br.until("bob's marker", func(a string) bool { return strings.Contains(a, "marker from bob") })
	if strings.Contains(got, "after sign-out") {
		t.Errorf("a signed-out socket's message was posted: %q", texts(got))
	}
}
