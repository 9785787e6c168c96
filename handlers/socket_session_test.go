package handlers_test

import (
	"net/http"
	"net/url"
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
